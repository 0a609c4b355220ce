#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the feedback-database tests (tests/test_feedback_db.py starts a
# throwaway cluster of its own; nothing here starts or configures a server). Idempotent: does nothing when
# initdb and pg_ctl are already there (on PATH or in /usr/lib/postgresql/VERSION/bin).
set -euo pipefail

if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    echo "postgresql already installed: $(initdb --version)"
    exit 0
fi
for bin in /usr/lib/postgresql/*/bin; do
    if [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then
        echo "postgresql already installed: $("$bin/initdb" --version)"
        exit 0
    fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_postgresql.sh: need root (or sudo) to apt-get install postgresql" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends postgresql
ls /usr/lib/postgresql/*/bin/initdb
