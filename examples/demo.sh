#!/usr/bin/env bash
# The demo campaign (`make demo`): the local Asterisk 22, SIPp customers with mixed
# behaviour and 5 SIPp agent phones, ~300 leads, a few minutes of dialling in the live
# view, then the campaign report. SQLite only; everything lives in $DEMO_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
DEMO_DIR=${DEMO_DIR:-/tmp/dialer-demo}
LEADS=${DEMO_LEADS:-300}
SECONDS_TO_DIAL=${DEMO_SECONDS:-240}
AGENTS=5
AST=asterisk-conf/local-asterisk.sh

rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
"$AST" up >/dev/null
while IFS='=' read -r name value; do export "$name=$value"; done < <("$AST" env)
export DIALER_AGI_LISTEN="$DIALER_AST_AGI"
export DIALER_DB_URL="sqlite+aiosqlite:///$DEMO_DIR/dialer.db"
export DIALER_KEY_FILE="$DEMO_DIR/keys.json"
export DIALER_NODE_ID=demo
dialer() { "$PY" -m dialer "$@"; }

cleanup() { "$PY" tests/rig.py peers down --workdir "$DEMO_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== store, campaign, agents and leads (in $DEMO_DIR)"
dialer keys init "$DIALER_KEY_FILE" >/dev/null
dialer campaign load examples/campaigns/demo.yaml --start
for i in $(seq 1 $AGENTS); do
  dialer agents add "800$i" --tenant demo --pin 1234 --name "Agent 800$i" >/dev/null
done
dialer demo leads --count "$LEADS" --out "$DEMO_DIR/leads.csv" --campaign examples/campaigns/demo.yaml
dialer leads import "$DEMO_DIR/leads.csv" --campaign demo --tenant demo

echo "== SIPp customers and $AGENTS agent phones"
"$PY" tests/rig.py peers up --agents "$AGENTS" --agent-loops 12 --workdir "$DEMO_DIR"

echo "== dialling for up to $SECONDS_TO_DIAL s"
dialer run --campaign examples/campaigns/demo.yaml --duration "$SECONDS_TO_DIAL" \
  --until-done --report
