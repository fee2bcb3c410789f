#!/usr/bin/env bash
# Install Arcus Desktop and everything it needs (Debian/Ubuntu), then start it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
install_system_packages $RUNTIME_PACKAGES
make_venv
.venv/bin/python -m pip install -q -e .
exec .venv/bin/arcus-desktop "$@"
