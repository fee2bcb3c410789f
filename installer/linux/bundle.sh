# Sourced by deb.sh and appimage.sh: where the built bundle is, and the app's id and
# version, for the packages made from it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
BUNDLE="$OUT/dist/arcus-desktop"
APP_ID=io.arcus.ArcusDesktop
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/arcus_desktop/__init__.py")"
[ -x "$BUNDLE/arcus-desktop" ] || { echo "error: no bundle in $BUNDLE: run build.sh" >&2; exit 2; }
