#!/usr/bin/env bash
# Creates one virtual environment per peer under bench/.venvs/ with pinned versions (idempotent: an
# environment whose marker file names the same pins is left alone). Needs `uv` and PyPI.
#
#   bash bench/peers/setup.sh            # both peers
#   bash bench/peers/setup.sh curator    # one of them
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$(cd "$HERE/.." && pwd)/.venvs"
PYTHON="${BENCH_PEER_PYTHON:-3.11}"

# name -> pinned requirements (space-separated)
declare -A PINS=(
  [curator]="bespokelabs-curator==0.1.31"
  [distilabel]="distilabel[openai]==1.5.3 requests==2.34.2"
)

wanted=("$@")
[[ ${#wanted[@]} -eq 0 ]] && wanted=(curator distilabel)

mkdir -p "$VENVS"
for name in "${wanted[@]}"; do
  pins="${PINS[$name]:-}"
  if [[ -z "$pins" ]]; then
    echo "unknown peer: $name (known: ${!PINS[*]})" >&2
    exit 2
  fi
  venv="$VENVS/$name"
  marker="$venv/.bench-pins"
  if [[ -x "$venv/bin/python" && -f "$marker" && "$(cat "$marker")" == "$pins" ]]; then
    echo "$name: up to date ($pins)"
    continue
  fi
  echo "$name: creating $venv ($pins)"
  rm -rf "$venv"
  uv venv --quiet --python "$PYTHON" "$venv"
  # shellcheck disable=SC2086
  uv pip install --quiet --python "$venv/bin/python" $pins
  "$venv/bin/python" - "$name" <<'PY'
import importlib, sys
module = {"curator": "bespokelabs.curator", "distilabel": "distilabel"}[sys.argv[1]]
importlib.import_module(module)
PY
  echo "$pins" > "$marker"
  echo "$name: ready"
done
