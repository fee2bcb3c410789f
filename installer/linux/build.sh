#!/usr/bin/env bash
# Build the Linux onedir bundle with PyInstaller and run its smoke test headless.
#   bash installer/linux/build.sh
# PYTHON: the interpreter with the app and pyinstaller installed (default python3).
# ARCUS_BUILD_DIR: where build files and dist/ go (default build/ in the repository;
# the bundle needs several GB).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
BUNDLE="$OUT/dist/arcus-desktop"
cd "$ROOT"

"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
    echo "error: PyInstaller is missing: $PYTHON -m pip install -e '.[build]'" >&2; exit 2; }

start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --workpath "$OUT/work" --distpath "$OUT/dist" build.spec
built=$(date +%s)
echo "build time: $((built - start)) s"
echo "bundle size: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE"
echo "  of which CUDA runtime (torch's nvidia libraries): $(du -shc "$BUNDLE"/_internal/nvidia 2>/dev/null | tail -1 | cut -f1)"

# Driver libraries must come from the user's system.
if find "$BUNDLE" -name 'libcuda.so*' -o -name 'libnvidia-*' | grep -q .; then
    echo "error: the bundle carries GPU driver libraries" >&2; exit 1
fi

"$ROOT/installer/linux/smoke.sh" "$BUNDLE/arcus-desktop"
echo "smoke test time: $(( $(date +%s) - built )) s"
