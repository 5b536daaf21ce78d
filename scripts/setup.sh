#!/usr/bin/env bash
# Installs everything the project needs into .venv from the lock file. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | awk '{print $2}')" != "$UV_VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
uv sync --frozen --quiet
echo "environment ready: .venv ($(.venv/bin/python --version))"
