#!/usr/bin/env bash
# A local Asterisk 22 for development, tests and the demo (run as root).
#
#   local-asterisk.sh build            build the shared Debian-unstable root once (cached)
#   local-asterisk.sh up               build if needed, install this instance's config, start, wait for ARI
#   local-asterisk.sh down             stop this instance (unmount when no instance is left)
#   local-asterisk.sh status           running or not, with ports
#   local-asterisk.sh env              the instance's connection settings, as KEY=value lines
#   local-asterisk.sh cli [COMMAND]    an Asterisk CLI command (or an interactive console)
#   local-asterisk.sh render DIR       write the rendered configuration to DIR (an operator's
#                                      /etc/asterisk; password from DIALER_AST_ARI_PASSWORD_FILE)
#   local-asterisk.sh remove           down, then delete the instance's folder
#
# One root (DIALER_AST_ROOT, default /var/lib/dialer/asterisk-root) holds the
# Asterisk installation; each instance (DIALER_AST_NAME, default "dev") has its
# own configuration, run, spool, log and database folders in ROOT/srv/dialer/NAME,
# so several instances run side by side on different ports:
#
#   DIALER_AST_BIND         127.0.0.1      address of SIP, HTTP/ARI and AMI
#   DIALER_AST_HTTP_PORT    28088          ARI (REST + events WebSocket)
#   DIALER_AST_SIP_PORT     25060          PJSIP UDP transport
#   DIALER_AST_AMI_PORT     25038          AMI
#   DIALER_AST_RTP_START    30000          RTP port range
#   DIALER_AST_RTP_END      31000
#   DIALER_AST_HTTP_SESSIONS 512           http.conf sessionlimit
#   DIALER_AST_TRUNK        customers      the PJSIP trunk endpoint
#   DIALER_AST_TRUNK_CONTACT 127.0.0.1:25070  where the trunk sends calls (the SIPp customers)
#   DIALER_AST_AGI          127.0.0.1:4573 the dialer's FastAGI server
#   DIALER_AST_AGENTS_FILE  asterisk-conf/agents.list   agent endpoints
#   DIALER_AST_ARI_USER     dialer
#
# An instance remembers the settings of its last `up` (ROOT/srv/dialer/NAME/settings.env);
# the environment overrides them. The ARI (and AMI) password is generated per instance at the first `up` and kept
# in ROOT/srv/dialer/NAME/secrets/ari-password (mode 0600); `env` prints the path.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${DIALER_AST_ROOT:-/var/lib/dialer/asterisk-root}
NAME=${DIALER_AST_NAME:-dev}
# an instance keeps the settings of its last `up`: later verbs need only the name
SETTINGS=$ROOT/srv/dialer/$NAME/settings.env
if [ -f "$SETTINGS" ]; then
  while IFS='=' read -r key value; do
    [[ $key =~ ^DIALER_AST_[A-Z_]+$ ]] && [ -z "${!key:-}" ] && export "$key=$value"
  done <"$SETTINGS"
fi
BIND=${DIALER_AST_BIND:-127.0.0.1}
HTTP_PORT=${DIALER_AST_HTTP_PORT:-28088}
SIP_PORT=${DIALER_AST_SIP_PORT:-25060}
AMI_PORT=${DIALER_AST_AMI_PORT:-25038}
RTP_START=${DIALER_AST_RTP_START:-30000}
RTP_END=${DIALER_AST_RTP_END:-31000}
HTTP_SESSIONS=${DIALER_AST_HTTP_SESSIONS:-512}
TRUNK=${DIALER_AST_TRUNK:-customers}
TRUNK_CONTACT=${DIALER_AST_TRUNK_CONTACT:-127.0.0.1:25070}
AGI_ADDR=${DIALER_AST_AGI:-127.0.0.1:4573}
AGENTS_FILE=${DIALER_AST_AGENTS_FILE:-$HERE/agents.list}
ARI_USER=${DIALER_AST_ARI_USER:-dialer}
BLOCKED_PROMPT=${DIALER_AST_BLOCKED_PROMPT:-cannot-complete-as-dialed}

PACKAGES=(asterisk asterisk-modules espeak-ng sox)
APT=(-o Acquire::Check-Valid-Until=false -q)
INST_IN=/srv/dialer/$NAME          # the instance's folder as Asterisk sees it
INST=$ROOT$INST_IN                 # ... and as the host sees it
CONF_IN=$INST_IN/etc/asterisk.conf
LOCK=$(dirname "$ROOT")/.$(basename "$ROOT").lock

say() { printf '[local-asterisk %s] %s\n' "$NAME" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ $NAME =~ ^[A-Za-z0-9_.-]+$ ]] || die "DIALER_AST_NAME must be letters, digits, . _ -"
need_root() { [ "$(id -u)" = 0 ] || die "run as root (chroot, mounts)"; }

# -- the shared root ------------------------------------------------------------
build() {
  [ -x "$ROOT/usr/sbin/asterisk" ] && [ -x "$ROOT/usr/bin/espeak-ng" ] && return 0
  command -v debootstrap >/dev/null || die "debootstrap is missing (.ci/host-setup.sh installs it)"
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$LOCK"
  flock 9                                    # another build may be running
  if [ -x "$ROOT/usr/sbin/asterisk" ] && [ -x "$ROOT/usr/bin/espeak-ng" ]; then exec 9>&-; return 0; fi
  local tmp=$ROOT.build t0=$SECONDS
  if [ ! -x "$tmp/usr/bin/apt-get" ]; then
    rm -rf "$tmp"
    say "debootstrap sid into $tmp (about 30 s)"
    debootstrap --variant=minbase sid "$tmp" >"$tmp.debootstrap.log" 2>&1 \
      || die "debootstrap failed; see $tmp.debootstrap.log"
  fi
  say "installing ${PACKAGES[*]} in the root (about 30 s)"
  chroot "$tmp" apt-get "${APT[@]}" update >"$tmp.apt.log" 2>&1 || die "apt-get update failed; see $tmp.apt.log"
  DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get "${APT[@]}" install -y --no-install-recommends \
    "${PACKAGES[@]}" >>"$tmp.apt.log" 2>&1 || die "apt-get install failed; see $tmp.apt.log"
  chroot "$tmp" apt-get clean
  [ -e "$ROOT" ] && rm -rf "$ROOT"
  mv "$tmp" "$ROOT"
  rm -f "$tmp.debootstrap.log" "$tmp.apt.log"
  exec 9>&-
  say "root ready in $((SECONDS - t0)) s: $(chroot "$ROOT" asterisk -V)"
}

# -- configuration --------------------------------------------------------------
agent_ids() {
  local line first last i
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}; line=${line//[[:space:]]/}
    [ -z "$line" ] && continue
    if [[ $line =~ ^([0-9]+)-([0-9]+)$ ]]; then
      first=${BASH_REMATCH[1]}; last=${BASH_REMATCH[2]}
      for ((i = 10#$first; i <= 10#$last; i++)); do echo "$i"; done
    elif [[ $line =~ ^[A-Za-z0-9_.-]+$ ]]; then
      echo "$line"
    else
      die "$AGENTS_FILE: bad agent id '$line'"
    fi
  done <"$AGENTS_FILE"
}

password() {
  local f=$INST/secrets/ari-password
  if [ ! -s "$f" ]; then
    mkdir -p "$INST/secrets"; chmod 700 "$INST/secrets"
    (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$f")
  fi
  cat "$f"
}

# render DIR PASSWORD: the full configuration of this instance into DIR
render() {
  local out=$1 pw=$2 f
  mkdir -p "$out"
  for f in "$HERE"/etc/*.conf "$HERE"/local/*.conf; do
    sed -e "s#@INST@#$INST_IN#g" -e "s#@HTTP_BIND@#$BIND#g" -e "s#@HTTP_PORT@#$HTTP_PORT#g" \
        -e "s#@HTTP_SESSIONS@#$HTTP_SESSIONS#g" -e "s#@SIP_BIND@#$BIND#g" -e "s#@SIP_PORT@#$SIP_PORT#g" \
        -e "s#@AMI_BIND@#$BIND#g" -e "s#@AMI_PORT@#$AMI_PORT#g" -e "s#@RTP_START@#$RTP_START#g" \
        -e "s#@RTP_END@#$RTP_END#g" -e "s#@TRUNK@#$TRUNK#g" -e "s#@TRUNK_CONTACT@#$TRUNK_CONTACT#g" \
        -e "s#@AGI_ADDR@#$AGI_ADDR#g" -e "s#@ARI_USER@#$ARI_USER#g" \
        -e "s#@BLOCKED_PROMPT@#$BLOCKED_PROMPT#g" -e "s#@ARI_PASSWORD@#$pw#g" \
        "$f" >"$out/$(basename "$f")"
  done
  {
    echo "; generated by local-asterisk.sh from $(basename "$AGENTS_FILE")"
    agent_ids | while read -r id; do
      printf '\n[%s](dialer-agent)\naors = %s\n\n[%s](dialer-agent-aor)\n' "$id" "$id" "$id"
    done
  } >"$out/pjsip_agents.conf"
  if grep -l '@[A-Z_]*@' "$out"/*.conf >/dev/null; then
    die "unrendered placeholders in: $(grep -l '@[A-Z_]*@' "$out"/*.conf | xargs)"
  fi
}

install_config() {
  local pw
  pw=$(password)
  mkdir -p "$INST"/{etc,run,spool/recording,log,lib/keys,cache}
  rm -f "$INST"/etc/*.conf
  render "$INST/etc" "$pw"
  # keep stock files whose defaults the modules we load want
  for f in indications.conf features.conf ccss.conf codecs.conf dsp.conf sorcery.conf \
           udptl.conf stasis.conf res_parking.conf say.conf; do
    [ -f "$ROOT/etc/asterisk/$f" ] && cp "$ROOT/etc/asterisk/$f" "$INST/etc/"
  done
  : >>"$INST/log/full"
  chroot "$ROOT" chown -R asterisk:asterisk "$INST_IN/etc" "$INST_IN/run" "$INST_IN/spool" \
    "$INST_IN/log" "$INST_IN/lib" "$INST_IN/cache"
  chmod 750 "$INST/etc"
  cat >"$SETTINGS" <<EOF
DIALER_AST_BIND=$BIND
DIALER_AST_HTTP_PORT=$HTTP_PORT
DIALER_AST_SIP_PORT=$SIP_PORT
DIALER_AST_AMI_PORT=$AMI_PORT
DIALER_AST_RTP_START=$RTP_START
DIALER_AST_RTP_END=$RTP_END
DIALER_AST_HTTP_SESSIONS=$HTTP_SESSIONS
DIALER_AST_TRUNK=$TRUNK
DIALER_AST_TRUNK_CONTACT=$TRUNK_CONTACT
DIALER_AST_AGI=$AGI_ADDR
DIALER_AST_ARI_USER=$ARI_USER
DIALER_AST_BLOCKED_PROMPT=$BLOCKED_PROMPT
EOF
  cat >"$INST/instance.env" <<EOF
DIALER_AST_NAME=$NAME
DIALER_ARI_URL=http://$BIND:$HTTP_PORT
DIALER_ARI_USER=$ARI_USER
DIALER_ARI_PASSWORD_FILE=$INST/secrets/ari-password
DIALER_AST_SIP=$BIND:$SIP_PORT
DIALER_AST_AMI=$BIND:$AMI_PORT
DIALER_AST_TRUNK=$TRUNK
DIALER_AST_TRUNK_CONTACT=$TRUNK_CONTACT
DIALER_AST_AGI=$AGI_ADDR
DIALER_AST_SPOOL=$INST/spool
DIALER_AST_LOG=$INST/log
EOF
}

# -- processes -------------------------------------------------------------------
pid_of() {  # pid_of HOST_INSTANCE_DIR: the pid of that instance's running Asterisk
  local pidfile=$1/run/asterisk.pid p
  [ -s "$pidfile" ] || return 1
  p=$(cat "$pidfile")
  [ -r "/proc/$p/cmdline" ] && [ "$(readlink "/proc/$p/root")" = "$ROOT" ] || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "-C ${1#"$ROOT"}/etc/asterisk.conf" || return 1
  echo "$p"
}

ari_answers() {
  printf 'user = "%s:%s"\n' "$ARI_USER" "$(password)" \
    | curl -sf -m 2 -K - "http://$BIND:$HTTP_PORT/ari/asterisk/info?only=system" >/dev/null 2>&1
}

mount_root() {
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
}

umount_root_if_idle() {
  local d
  for d in "$ROOT"/srv/dialer/*/; do
    [ -d "$d" ] && pid_of "${d%/}" >/dev/null && return 0
  done
  mountpoint -q "$ROOT/dev" && umount "$ROOT/dev"
  mountpoint -q "$ROOT/proc" && umount "$ROOT/proc"
  return 0
}

up() {
  build
  install_config
  local p
  if p=$(pid_of "$INST"); then
    chroot "$ROOT" asterisk -C "$CONF_IN" -rx "core reload" >/dev/null
    say "already running (pid $p); configuration reloaded"
  else
    mount_root
    rm -f "$INST/run/asterisk.ctl" "$INST/run/asterisk.pid"
    ulimit -n "$(ulimit -Hn)"
    # setsid: its own session, so the caller's job control and SIGHUP leave it alone
    setsid chroot "$ROOT" asterisk -f -U asterisk -G asterisk -C "$CONF_IN" \
      </dev/null >>"$INST/log/stdout" 2>&1 &
    say "starting Asterisk (HTTP $BIND:$HTTP_PORT, SIP $BIND:$SIP_PORT, RTP $RTP_START-$RTP_END)"
  fi
  local i
  for i in $(seq 150); do
    ari_answers && break
    if [ "$i" -gt 10 ] && ! pid_of "$INST" >/dev/null; then
      tail -20 "$INST/log/stdout" >&2 || true
      die "Asterisk exited; see $INST/log/stdout and $INST/log/messages.log"
    fi
    sleep 0.2
  done
  ari_answers || die "ARI does not answer on $BIND:$HTTP_PORT after 30 s; see $INST/log/messages.log"
  say "ARI answers at http://$BIND:$HTTP_PORT (pid $(pid_of "$INST"))"
  cat "$INST/instance.env"
}

down() {
  local p i
  if p=$(pid_of "$INST"); then
    chroot "$ROOT" asterisk -C "$CONF_IN" -rx "core stop now" >/dev/null 2>&1 || kill "$p"
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { kill -9 "$p"; say "killed (pid $p)"; } || say "stopped (pid $p)"
  else
    say "not running"
  fi
  [ -d "$ROOT/proc" ] && umount_root_if_idle
  return 0
}

status() {
  local p
  if p=$(pid_of "$INST"); then
    say "running (pid $p); ARI $(ari_answers && echo answers || echo 'does not answer')"
    [ -f "$INST/instance.env" ] && cat "$INST/instance.env"
    return 0
  fi
  say "not running"
  return 3
}

case ${1:-} in
  build|up|down|status|cli|remove) need_root ;;
esac
case ${1:-} in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  env) [ -f "$INST/instance.env" ] || die "instance $NAME has never been up"; cat "$INST/instance.env" ;;
  cli)
    shift
    pid_of "$INST" >/dev/null || die "not running"
    if [ $# -gt 0 ]; then chroot "$ROOT" asterisk -C "$CONF_IN" -rx "$*"
    else exec chroot "$ROOT" asterisk -C "$CONF_IN" -r; fi ;;
  render)
    [ -n "${2:-}" ] || die "usage: $0 render DIR"
    if [ -n "${DIALER_AST_ARI_PASSWORD_FILE:-}" ]; then pw=$(cat "$DIALER_AST_ARI_PASSWORD_FILE"); else need_root; pw=$(password); fi
    render "$2" "$pw"; say "rendered into $2" ;;
  remove) down; rm -rf "$INST"; say "removed $INST" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
