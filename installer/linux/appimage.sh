#!/usr/bin/env bash
# Wrap the built onedir bundle as an AppImage (run installer/linux/build.sh first).
#   bash installer/linux/appimage.sh [--client]
# With appimagetool on PATH it makes the AppImage. Without it (no registry this project
# uses ships it), it makes one itself: mksquashfs (Debian's squashfs-tools) packs the
# AppDir and our own runtime (appimage/runtime.c, built here against Debian's static
# libsquashfuse; it extracts the image once into ~/.cache instead of mounting it with
# FUSE) goes in front. APPIMAGE_ZSTD_LEVEL: zstd's level (default 15 for the client, 3
# for the full app, whose 6 GB compress slowly).
set -euo pipefail
. "$(dirname "$0")/bundle.sh"

APPDIR="$OUT/appimage/$APPIMAGE_NAME.AppDir"
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/share/applications" "$APPDIR/usr/share/icons/hicolor/scalable/apps"
# Hard links where the AppDir shares the bundle's file system (only read, then removed);
# "$BUNDLE/." also follows a bundle folder that is a symbolic link.
mkdir "$APPDIR/usr/arcus-desktop"
cp -al "$BUNDLE/." "$APPDIR/usr/arcus-desktop/" 2>/dev/null || {
    rm -rf "$APPDIR/usr/arcus-desktop"; mkdir "$APPDIR/usr/arcus-desktop"
    cp -a "$BUNDLE/." "$APPDIR/usr/arcus-desktop/"; }
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

IMAGE="$OUT/$APPIMAGE_NAME-$VERSION-x86_64.AppImage"
if command -v appimagetool >/dev/null; then
    ARCH=x86_64 appimagetool --comp zstd "$APPDIR" "$IMAGE"
else
    for tool in mksquashfs cc; do
        command -v "$tool" >/dev/null || {
            echo "neither appimagetool nor $tool is installed: AppDir written to $APPDIR" >&2
            echo "  (scripts/_setup.sh installs squashfs-tools, gcc and libsquashfuse-dev)" >&2
            exit 3; }
    done
    RUNTIME="$OUT/appimage/runtime"
    cc -O2 -Wall -Wno-format-truncation -static -o "$RUNTIME" "$ROOT/installer/linux/appimage/runtime.c" \
        -lsquashfuse -lzstd -llz4 -llzo2 -lz -llzma
    printf 'AI\002' | dd of="$RUNTIME" bs=1 seek=8 conv=notrunc status=none  # AppImage type 2
    if [ "$FLAVOUR" = client ]; then LEVEL="${APPIMAGE_ZSTD_LEVEL:-15}"; else LEVEL="${APPIMAGE_ZSTD_LEVEL:-3}"; fi
    rm -f "$OUT/appimage/image.squashfs"
    mksquashfs "$APPDIR" "$OUT/appimage/image.squashfs" -root-owned -noappend -quiet \
        -comp zstd -Xcompression-level "$LEVEL" >/dev/null
    cat "$RUNTIME" "$OUT/appimage/image.squashfs" > "$IMAGE"
    chmod 755 "$IMAGE"
    rm -f "$OUT/appimage/image.squashfs"
fi
rm -rf "$APPDIR"
ls -lh "$IMAGE"
