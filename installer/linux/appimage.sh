#!/usr/bin/env bash
# Wrap the built onedir bundle as an AppImage (run installer/linux/build.sh first).
#   bash installer/linux/appimage.sh [--client]
# Needs appimagetool on PATH (https://github.com/AppImage/appimagetool); without it the
# AppDir is still written, ready for appimagetool on another machine.
set -euo pipefail
. "$(dirname "$0")/bundle.sh"

APPDIR="$OUT/appimage/$APPIMAGE_NAME.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/share/applications" "$APPDIR/usr/share/icons/hicolor/scalable/apps"
cp -a "$BUNDLE" "$APPDIR/usr/arcus-desktop"
cat > "$APPDIR/AppRun" <<'RUN'
#!/bin/sh
HERE="$(dirname "$(readlink -f "$0")")"
exec "$HERE/usr/arcus-desktop/arcus-desktop" "$@"
RUN
chmod 755 "$APPDIR/AppRun"
install -m 644 "$ROOT/resources/linux/$APP_ID.desktop" "$APPDIR/$APP_ID.desktop"
install -m 644 "$ROOT/resources/linux/$APP_ID.desktop" "$APPDIR/usr/share/applications/"
install -m 644 "$ROOT/resources/icons/arcus.svg" "$APPDIR/$APP_ID.svg"
install -m 644 "$ROOT/resources/icons/arcus.svg" "$APPDIR/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"

if ! command -v appimagetool >/dev/null; then
    echo "appimagetool is not installed: AppDir written to $APPDIR" >&2
    echo "  finish with: ARCH=x86_64 appimagetool $APPDIR $APPIMAGE_NAME-$VERSION-x86_64.AppImage" >&2
    exit 3
fi
ARCH=x86_64 appimagetool --comp zstd "$APPDIR" "$OUT/$APPIMAGE_NAME-$VERSION-x86_64.AppImage"
ls -lh "$OUT/$APPIMAGE_NAME-$VERSION-x86_64.AppImage"
