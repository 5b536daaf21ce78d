#!/usr/bin/env bash
# Installs every tool the deployment tests (tests/ops) use, each cached and idempotent:
# kustomize (Go module proxy), the CRD validators (npm), prometheus + promtool (Debian package).
# Run it before pytest in CI so that the one-time installs do not count against test timeouts.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
bash "$HERE/kustomize.sh" install
bash "$HERE/crd-validate.sh" install
bash "$HERE/prometheus.sh" install
echo "ops tools ready: kustomize $("$(bash "$HERE/kustomize.sh" path)" version), $(promtool --version 2>&1 | head -n1)"
