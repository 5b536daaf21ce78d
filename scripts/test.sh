#!/usr/bin/env bash
# The project's test command: setup, lint, type-check, then the whole test suite against real parts
# (the mock OpenAI-compatible server over loopback HTTP, the real small model, Kafka and FerretDB).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
uv run --frozen pytest "$@"
