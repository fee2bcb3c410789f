#!/usr/bin/env bash
# Run a built app's --smoke-test headless and fail on the known bad markers even when
# the exit status says success.  Usage: installer/linux/smoke.sh PATH/TO/arcus-desktop
set -uo pipefail
APP="$1"
LOG="$(mktemp)"
QT_QPA_PLATFORM=offscreen timeout 900 "$APP" --smoke-test 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
bad='ModuleNotFoundError|ImportError|could not load the Qt platform plugin|error while loading shared libraries|Traceback \(most recent call last\)'
if [ "$status" -ne 0 ] || grep -Eiq "$bad" "$LOG" || ! grep -q "ARCUS SMOKE TEST PASSED" "$LOG"; then
    echo "SMOKE TEST FAILED (exit $status); log: $LOG" >&2
    exit 1
fi
rm -f "$LOG"
echo "smoke test passed: $APP"
