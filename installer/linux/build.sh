#!/usr/bin/env bash
# Build the Linux onedir bundle with PyInstaller and run its smoke test headless.
#   bash installer/linux/build.sh            the full app (dist/arcus-desktop)
#   bash installer/linux/build.sh --client   Arcus Desktop Client, team server only
#                                            (dist/arcus-desktop-client; or FLAVOUR=client)
# PYTHON: the interpreter with the app and pyinstaller installed (default python3).
# ARCUS_BUILD_DIR: where build files and dist/ go (default build/ in the repository;
# the full bundle needs several GB).
# ARCUS_SMOKE_SERVER: a team server for the client's smoke test to talk to (without it,
# it codes Opus both ways only).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
. "$ROOT/installer/linux/flavour.sh"
PYTHON="${PYTHON:-python3}"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
BUNDLE="$OUT/dist/$DIST_NAME"
cd "$ROOT"

"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
    echo "error: PyInstaller is missing: $PYTHON -m pip install -e '.[build]'" >&2; exit 2; }

start=$(date +%s)
ARCUS_FLAVOUR="$FLAVOUR" "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$OUT/work-$FLAVOUR" --distpath "$OUT/dist" build.spec
built=$(date +%s)
echo "build time: $((built - start)) s"
echo "flavour: $FLAVOUR ($APP_NAME)"
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE"
echo "  of which CUDA runtime (torch's nvidia libraries): $(du -shc "$BUNDLE"/_internal/nvidia 2>/dev/null | tail -1 | cut -f1)"

# Driver libraries must come from the user's system.
if find "$BUNDLE" -name 'libcuda.so*' -o -name 'libnvidia-*' | grep -q .; then
    echo "error: the bundle carries GPU driver libraries" >&2; exit 1
fi

"$ROOT/installer/linux/smoke.sh" "$BUNDLE/arcus-desktop"
echo "smoke test time: $(( $(date +%s) - built )) s"
