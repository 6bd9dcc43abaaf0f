#!/usr/bin/env bash
# Set-up, then the demo: the agent fills the bundled contact form on a virtual display.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python run_agent.py demo "$@"
