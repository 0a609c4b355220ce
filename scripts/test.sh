#!/usr/bin/env bash
# Set up and run the whole test suite, browser tests included (installs Debian's chromium when missing) and the
# feedback database tests against a real PostgreSQL server (installs Debian's postgresql when missing).
# Extra arguments go to pytest, e.g.: bash scripts/test.sh -k ingest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_chromium.sh
bash scripts/install_postgresql.sh
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m pytest "$@"
