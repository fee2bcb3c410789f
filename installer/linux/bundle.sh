# Sourced by deb.sh and appimage.sh: where the built bundle of the flavour asked for
# (flavour.sh: --client) is, and the app's id and version, for the packages made from it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$ROOT/installer/linux/flavour.sh"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
BUNDLE="$OUT/dist/$DIST_NAME"
APP_ID=io.arcus.ArcusDesktop
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/arcus_desktop/__init__.py")"
[ -x "$BUNDLE/arcus-desktop" ] || { echo "error: no bundle in $BUNDLE: run build.sh${FLAVOUR/full/}" >&2; exit 2; }
