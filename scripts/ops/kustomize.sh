#!/usr/bin/env bash
# Installs a pinned kustomize (built from the Go module proxy with `go install`) into the cache and runs it.
#
#   scripts/ops/kustomize.sh install            # idempotent; about a minute the first time, instant after that
#   scripts/ops/kustomize.sh path               # prints the binary's path (installs first if needed)
#   scripts/ops/kustomize.sh build k8s/overlays/dev
#   scripts/ops/kustomize.sh <any kustomize arguments>
#
# Cache: ${AGENTINSTRUCT_CACHE:-~/.cache/agentinstruct}/ops/kustomize-<version>/kustomize (Go also fills its own
# module and build caches). Needs Go >= 1.24 on PATH.
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
CACHE="${AGENTINSTRUCT_CACHE:-$HOME/.cache/agentinstruct}"
DIR="$CACHE/ops/kustomize-$KUSTOMIZE_VERSION"
BIN="$DIR/kustomize"

log() { echo "kustomize.sh: $*" >&2; }

install() {
  if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || { log "go is not on PATH: it is needed to build kustomize"; exit 2; }
  mkdir -p "$DIR"
  log "building sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION (once) ..."
  # GOTOOLCHAIN=local: build with the machine's Go, never download another toolchain.
  GOBIN="$DIR" GOTOOLCHAIN=local GOFLAGS=-mod=mod \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
  "$BIN" version >/dev/null
  log "installed $BIN"
}

case "${1:-}" in
  install)
    install
    ;;
  path)
    install
    echo "$BIN"
    ;;
  "" | -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    install
    exec "$BIN" "$@"
    ;;
esac
