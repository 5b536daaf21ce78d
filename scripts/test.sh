#!/usr/bin/env bash
# The project's test command: setup, lint, type-check, then the whole test suite against real parts
# (the mock OpenAI-compatible server over loopback HTTP, the real small model, Kafka and FerretDB).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== installing the local Kafka broker and FerretDB (cached after the first run)"
bash scripts/infra/infra.sh install
echo "== installing the operations tools: kustomize, promtool, CRD validators (cached after the first run)"
bash scripts/ops/install.sh
echo "== lint and types"
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
echo "== tests"
uv run --frozen pytest "$@"
