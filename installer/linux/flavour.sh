# Sourced by build.sh, deb.sh and appimage.sh: which flavour to build or package.
# --client (or FLAVOUR=client): Arcus Desktop Client, team server only, no torch (small);
# default: the full app, which can run the model on this computer's GPU.
FLAVOUR="${FLAVOUR:-full}"
ARGS=()
for arg in "$@"; do
    case "$arg" in
        --client) FLAVOUR=client ;;
        --full) FLAVOUR=full ;;
        *) ARGS+=("$arg") ;;
    esac
done
case "$FLAVOUR" in
    client) DIST_NAME=arcus-desktop-client; PACKAGE=arcus-desktop-client
            APP_NAME="Arcus Desktop Client"; APPIMAGE_NAME=ArcusDesktopClient ;;
    full) DIST_NAME=arcus-desktop; PACKAGE=arcus-desktop
          APP_NAME="Arcus Desktop"; APPIMAGE_NAME=ArcusDesktop ;;
    *) echo "error: FLAVOUR=$FLAVOUR: use full or client" >&2; exit 2 ;;
esac
