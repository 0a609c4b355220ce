#!/usr/bin/env bash
# Set up, index the documents in docs/ (only what changed), and serve the assistant on 127.0.0.1:7860.
# Extra arguments go to app.py, e.g.: bash scripts/run.sh --port 8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python app.py "$@"
