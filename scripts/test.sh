#!/usr/bin/env bash
# Set-up, then the full test suite (it starts its own virtual display).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
