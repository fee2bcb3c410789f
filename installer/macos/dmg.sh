#!/usr/bin/env bash
# Build "Arcus Desktop.app", sign it inside-out, make a dmg and notarize it. On a Mac:
#   bash installer/macos/dmg.sh
# SIGN_ID: "Developer ID Application: …" (unset: an unsigned dmg for local testing).
# NOTARY_PROFILE: a notarytool keychain profile (xcrun notarytool store-credentials).
# There is no CUDA on macOS and PersonaPlex-7B is far from real time on Apple CPUs, so the
# Mac app talks to a team server (arcus-desktop serve on a GPU box): pick "Team server"
# in the first-run wizard.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${ARCUS_BUILD_DIR:-$ROOT/build}"
APP="$OUT/dist/Arcus Desktop.app"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/arcus_desktop/__init__.py")"
DMG="$OUT/ArcusDesktop-$VERSION.dmg"
cd "$ROOT"

"$PYTHON" -m PyInstaller --noconfirm --clean --workpath "$OUT/work" --distpath "$OUT/dist" build.spec
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
hdiutil create -volname "Arcus Desktop" -srcfolder "$APP" -ov -format UDZO "$DMG"
if [ -n "${SIGN_ID:-}" ] && [ -n "${NOTARY_PROFILE:-}" ]; then
    codesign --force --timestamp --sign "$SIGN_ID" "$DMG"
    xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
fi
ls -lh "$DMG"
