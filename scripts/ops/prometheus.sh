#!/usr/bin/env bash
# A real Prometheus on loopback, for tests and local runs without Docker, and promtool for the rule checks.
#
#   scripts/ops/prometheus.sh install     # Debian's prometheus package (prometheus + promtool); idempotent
#   scripts/ops/prometheus.sh up [JOB=HOST:PORT[,HOST:PORT...] ...]
#       renders observability/prometheus/prometheus.local.yml.tmpl with one job per argument (the stage
#       services: transformer=127.0.0.1:8001 ...; the dashboards expect job=<stage>) and the alert rules,
#       starts Prometheus on 127.0.0.1:$PROM_PORT, or reloads it with the new targets if it is running
#   scripts/ops/prometheus.sh down [--wipe]   # stop it (--wipe: delete its data too)
#   scripts/ops/prometheus.sh status      # exit 0 if ready, 3 otherwise
#   scripts/ops/prometheus.sh env         # prints PROMETHEUS_URL=...
#   scripts/ops/prometheus.sh check       # promtool: check rules, test rules, check the compose config
#
# Environment: PROM_PORT (19090), PROM_SCRAPE_INTERVAL (5s), AGENTINSTRUCT_INFRA_TIMEOUT (120 s, wait for
# readiness), AGENTINSTRUCT_STATE (<repo>/.infra): config, data, pid and log under $AGENTINSTRUCT_STATE/prometheus.
# Needs root (or passwordless apt) for the install, which uses apt-get; nothing is downloaded otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OBS="$ROOT/observability/prometheus"
STATE="${AGENTINSTRUCT_STATE:-$ROOT/.infra}/prometheus"
PORT="${PROM_PORT:-19090}"
LISTEN="127.0.0.1:$PORT"
SCRAPE_INTERVAL="${PROM_SCRAPE_INTERVAL:-5s}"
TIMEOUT="${AGENTINSTRUCT_INFRA_TIMEOUT:-120}"
MIN_VERSION="2.37"

log() { echo "prometheus.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# -- install -------------------------------------------------------------------------------------------------------

version_of() { "$1" --version 2>/dev/null | awk 'NR == 1 {print $3}' | sed 's/+.*//'; }

version_ok() {  # $1 >= MIN_VERSION
  [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$MIN_VERSION" "$1" | sort -V | head -n1)" = "$MIN_VERSION" ]
}

installed() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
    && version_ok "$(version_of promtool)" && version_ok "$(version_of prometheus)"
}

install() {
  if installed; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install prometheus and promtool >= $MIN_VERSION yourself"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "installing Debian's prometheus package needs root"
    sudo="sudo -n"
  fi
  log "installing Debian's prometheus package (once) ..."
  export DEBIAN_FRONTEND=noninteractive
  # The package lists may be missing or stale on a fresh machine: update and retry once.
  if ! $sudo apt-get install -y --no-install-recommends prometheus >&2; then
    $sudo apt-get update >&2
    $sudo apt-get install -y --no-install-recommends prometheus >&2
  fi
  installed || die "prometheus/promtool >= $MIN_VERSION not usable after the install"
  log "installed prometheus $(version_of prometheus)"
}

# -- run -----------------------------------------------------------------------------------------------------------

pid() { [ -f "$STATE/prometheus.pid" ] && cat "$STATE/prometheus.pid" || true; }

running() {
  local p
  p="$(pid)"
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

ready() {
  python3 - "$LISTEN" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://{sys.argv[1]}/-/ready", timeout=2) as response:
        sys.exit(0 if response.status == 200 else 3)
except Exception:
    sys.exit(3)
EOF
}

render_config() {  # args: JOB=HOST:PORT[,HOST:PORT...]
  mkdir -p "$STATE"
  python3 - "$OBS/prometheus.local.yml.tmpl" "$STATE/prometheus.yml" "$SCRAPE_INTERVAL" "$LISTEN" \
    "$OBS/alerts.yaml" "$@" <<'EOF'
import json, re, string, sys
template, out, interval, listen, rules, *groups = sys.argv[1:]
blocks = []
for group in groups:
    job, sep, targets = group.partition("=")
    hosts = [t for t in targets.split(",") if t]
    if not sep or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_-]*", job) or not hosts:
        sys.exit(f"bad target group {group!r}: expected JOB=HOST:PORT[,HOST:PORT...]")
    blocks.append(f"- job_name: {job}\n  static_configs:\n  - targets: {json.dumps(hosts)}")
seconds = int(re.fullmatch(r"(\d+)s", interval).group(1)) if re.fullmatch(r"\d+s", interval) else 10
text = string.Template(open(template).read()).substitute(
    scrape_interval=interval,
    scrape_timeout=f"{max(1, min(10, seconds - 1 if seconds > 1 else 1))}s",
    listen=listen,
    rule_file=json.dumps(rules),
    scrape_configs="\n".join(blocks),
)
open(out, "w").write(text)
EOF
  promtool check config "$STATE/prometheus.yml" >/dev/null || die "invalid config $STATE/prometheus.yml"
}

up() {
  install
  render_config "$@"
  if running; then
    kill -HUP "$(pid)"
    log "reloaded the configuration of the running Prometheus ($LISTEN)"
  else
    mkdir -p "$STATE/data"
    [ -f "$STATE/prometheus.log" ] && mv -f "$STATE/prometheus.log" "$STATE/prometheus.log.1"
    nohup prometheus \
      --config.file="$STATE/prometheus.yml" \
      --storage.tsdb.path="$STATE/data" \
      --storage.tsdb.retention.time=2d \
      --web.listen-address="$LISTEN" \
      --web.enable-lifecycle \
      >"$STATE/prometheus.log" 2>&1 </dev/null &
    echo $! >"$STATE/prometheus.pid"
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until ready; do
    if ! running; then
      tail -n 20 "$STATE/prometheus.log" >&2 || true
      die "Prometheus exited during startup"
    fi
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$STATE/prometheus.log" >&2 || true; die "not ready after ${TIMEOUT}s"; }
    sleep 0.2
  done
  log "ready at http://$LISTEN"
}

down() {
  if running; then
    local p
    p="$(pid)"
    kill "$p"
    for _ in $(seq 1 100); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$p" 2>/dev/null && kill -9 "$p"
    log "stopped"
  fi
  rm -f "$STATE/prometheus.pid"
  if [ "${1:-}" = "--wipe" ]; then
    rm -rf "$STATE/data"
  fi
}

check() {
  install
  promtool check rules "$OBS/alerts.yaml"
  (cd "$OBS" && promtool test rules alerts_test.yaml)
  promtool check config --syntax-only "$OBS/prometheus.yml"
}

case "${1:-}" in
  install) install ;;
  up) shift; up "$@" ;;
  down) shift; down "${1:-}" ;;
  status) running && ready || exit 3 ;;
  env) echo "PROMETHEUS_URL=http://$LISTEN" ;;
  check) check ;;
  *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ] && exit 2 || exit 0 ;;
esac
