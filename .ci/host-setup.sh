#!/usr/bin/env bash
# Install and start what the tests and the demo need on a fresh Debian/Ubuntu host
# (as root): Python venv support, debootstrap (for the Asterisk root), SIPp,
# PostgreSQL and Mosquitto. Idempotent: installs only what is missing and starts
# only what is not running.
set -euo pipefail

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v sipp >/dev/null || need+=(sip-tester)
command -v curl >/dev/null || need+=(curl)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v mosquitto >/dev/null || need+=(mosquitto)
if [ ${#need[@]} -gt 0 ]; then
  echo "host-setup: installing ${need[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "host-setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
# the tests connect as postgres@127.0.0.1 without a password
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
  echo "host-setup: allowing trust auth for postgres on 127.0.0.1"
  hba=$(su postgres -c "psql -Atc 'show hba_file'")
  grep -q '^host all postgres 127.0.0.1/32 trust' "$hba" \
    || sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
fi

if ! port_open 1883; then
  echo "host-setup: starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
  for _ in $(seq 50); do port_open 1883 && break; sleep 0.1; done
fi
echo "host-setup: ok (PostgreSQL :5432, Mosquitto :1883, sipp $(command -v sipp))"
