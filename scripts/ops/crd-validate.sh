#!/usr/bin/env bash
# Validates KEDA ScaledObjects and Prometheus Operator ServiceMonitors/PrometheusRules against schemas generated
# from their CRDs (npm: @kubernetes-models/keda, @kubernetes-models/prometheus-operator, pinned with
# scripts/ops/crd-validate/package-lock.json).
#
#   scripts/ops/crd-validate.sh install        # npm ci into the cache; idempotent
#   scripts/ops/crd-validate.sh < resources.json
#     stdin: a JSON array of Kubernetes resources; stdout: a JSON array of {kind, name, errors} for the
#     resources of those kinds (others are ignored)
#
# Cache: ${AGENTINSTRUCT_CACHE:-~/.cache/agentinstruct}/ops/crd-validate-<hash of the lock file>. Needs Node.js
# >= 20 with npm.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="$HERE/crd-validate"
CACHE="${AGENTINSTRUCT_CACHE:-$HOME/.cache/agentinstruct}"
LOCK_HASH="$(cat "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-12)"
DIR="$CACHE/ops/crd-validate-$LOCK_HASH"

log() { echo "crd-validate.sh: $*" >&2; }

install() {
  if [ -f "$DIR/.installed" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { log "npm is not on PATH"; exit 2; }
  mkdir -p "$DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
  log "installing the CRD validators (once) ..."
  (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  touch "$DIR/.installed"
}

case "${1:-}" in
  install)
    install
    ;;
  "")
    install
    cp "$SRC/validate.mjs" "$DIR/validate.mjs"
    exec node "$DIR/validate.mjs"
    ;;
  *)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
