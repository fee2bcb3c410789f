#!/usr/bin/env bash
# Package the built onedir bundle as a .deb (run installer/linux/build.sh first).
#   bash installer/linux/deb.sh [--client] [--autostart]
# --client: Arcus Desktop Client's bundle (build.sh --client), package arcus-desktop-client;
# the two packages install the same files, so each replaces the other.
# --autostart: also start the app at every user's login (/etc/xdg/autostart), for managed
# team laptops; without it each user turns it on in the app's settings.
# DEB_COMPRESS: dpkg-deb's compressor, xz (default), zstd or none (tests/bundle uses none:
# xz takes over 13 minutes for the 6.6 GB bundle).
set -euo pipefail
. "$(dirname "$0")/bundle.sh"

PKG="$OUT/deb/${PACKAGE}_${VERSION}_amd64"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/opt/arcus-desktop" "$PKG/usr/bin" "$PKG/usr/share/applications" \
         "$PKG/usr/share/icons/hicolor/scalable/apps"
# Hard links where the staging folder shares the bundle's file system (dpkg-deb only reads
# them, and the staging folder is removed below): 6.6 GB less disk and no copying time.
# "$BUNDLE/." also follows a bundle folder that is a symbolic link.
cp -al "$BUNDLE/." "$PKG/opt/arcus-desktop/" 2>/dev/null || {
    rm -rf "$PKG/opt/arcus-desktop"; mkdir "$PKG/opt/arcus-desktop"
    cp -a "$BUNDLE/." "$PKG/opt/arcus-desktop/"; }
ln -s /opt/arcus-desktop/arcus-desktop "$PKG/usr/bin/arcus-desktop"
install -m 644 "$ROOT/resources/linux/$APP_ID.desktop" "$PKG/usr/share/applications/"
install -m 644 "$ROOT/resources/icons/arcus.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
if [ "${ARGS[0]:-}" = "--autostart" ]; then
    mkdir -p "$PKG/etc/xdg/autostart"
    install -m 644 "$ROOT/resources/linux/$APP_ID.desktop" "$PKG/etc/xdg/autostart/"
fi
SIZE_KB="$(du -sk "$PKG" | cut -f1)"
if [ "$FLAVOUR" = client ]; then OTHER=arcus-desktop; else OTHER=arcus-desktop-client; fi
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE_KB@/$SIZE_KB/" -e "s/@PACKAGE@/$PACKAGE/" \
    -e "s/@OTHER@/$OTHER/g" "$ROOT/installer/linux/deb/control" > "$PKG/DEBIAN/control"
if [ "$FLAVOUR" = client ]; then  # the client's own description in place of the full app's
    sed -i '/^Description:/,$d' "$PKG/DEBIAN/control"
    cat "$ROOT/installer/linux/deb/description-client" >> "$PKG/DEBIAN/control"
fi
install -m 755 "$ROOT/installer/linux/deb/postrm" "$PKG/DEBIAN/postrm"
# xz at a low level for the full app: the torch libraries are large and compress slowly
# (13.5 min for 6.6 GB on 2 busy cores, docs/PERFORMANCE.md); the client is small, so it
# gets xz's default level. DEB_COMPRESS=zstd is much faster and needs dpkg >= 1.21.18
# (Debian 12, Ubuntu 21.10) on the laptops.
if [ "$FLAVOUR" = client ]; then LEVEL="${DEB_LEVEL:-6}"; else LEVEL="${DEB_LEVEL:-1}"; fi
DEB="$OUT/${PACKAGE}_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" -z"$LEVEL" --build "$PKG" "$DEB"
rm -rf "$PKG"
ls -lh "$DEB"
