#!/usr/bin/env bash
# Build both Mac flavours, sign each inside-out, make a dmg of each and notarize it. On a Mac:
#   bash installer/macos/dmg.sh [--client | --full]      (default: both)
# "Arcus Desktop Client.app" (team server only, no torch: small) is the one to hand out:
# there is no CUDA on macOS and PersonaPlex-7B is far from real time on Apple CPUs, so a
# Mac talks to a team server (arcus-desktop serve on a GPU box). "Arcus Desktop.app" (the
# full one, with torch) is built for completeness; it too can only use a team server.
# SIGN_ID: "Developer ID Application: …" (unset: unsigned dmgs for local testing).
# NOTARY_PROFILE: a notarytool keychain profile (xcrun notarytool store-credentials).
# ARCUS_SMOKE_SERVER: a team server for the client's smoke test to talk to.
# NOT RUN YET: written without a Mac (see README, Installers).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/arcus_desktop/__init__.py")"
case "${1:-}" in
    --client) FLAVOURS="client" ;;
    --full) FLAVOURS="full" ;;
    "") FLAVOURS="client full" ;;
    *) echo "usage: $0 [--client | --full]" >&2; exit 2 ;;
esac
cd "$ROOT"

for FLAVOUR in $FLAVOURS; do
    if [ "$FLAVOUR" = client ]; then NAME="Arcus Desktop Client"; else NAME="Arcus Desktop"; fi
    APP="$OUT/dist/$NAME.app"
    DMG="$OUT/${NAME// /}-$VERSION.dmg"
    ARCUS_FLAVOUR="$FLAVOUR" "$PYTHON" -m PyInstaller --noconfirm --clean \
        --workpath "$OUT/work-$FLAVOUR" --distpath "$OUT/dist" build.spec
    QT_QPA_PLATFORM=offscreen bash "$ROOT/installer/linux/smoke.sh" "$APP/Contents/MacOS/arcus-desktop"

    if [ -n "${SIGN_ID:-}" ]; then
        # Inside-out: every library first, the app last (codesign --deep is unreliable).
        find "$APP/Contents" -type f \( -name '*.dylib' -o -name '*.so' \) -print0 |
            xargs -0 codesign --force --timestamp --options runtime --sign "$SIGN_ID"
        codesign --force --timestamp --options runtime \
            --entitlements "$ROOT/installer/macos/entitlements.plist" --sign "$SIGN_ID" "$APP"
        codesign --verify --strict --verbose=2 "$APP"
    fi

    rm -f "$DMG"
    hdiutil create -volname "$NAME" -srcfolder "$APP" -ov -format UDZO "$DMG"
    if [ -n "${SIGN_ID:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
        codesign --force --timestamp --sign "$SIGN_ID" "$DMG"
        xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
        xcrun stapler staple "$DMG"
    fi
    ls -lh "$DMG"
done
