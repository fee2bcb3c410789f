# Shared set-up steps for install-and-run.sh and test.sh (sourced, not run).

RUNTIME_PACKAGES="python3 python3-venv libportaudio2 libegl1 libgl1 libxkbcommon-x11-0 \
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 \
libxcb-image0 libxcb-xinerama0 libdbus-1-3 libfontconfig1 libglib2.0-0 libpulse0 \
pulseaudio-utils libasound2-plugins"  # pactl lists the sound server's devices; ALSA's pulse
# device reaches the one chosen (audio/devices.py)
TEST_PACKAGES="dbus gnome-keyring pulseaudio pulseaudio-utils libasound2-plugins \
xvfb xdotool trayer binutils icu-devtools gcc squashfs-tools libsquashfuse-dev libzstd-dev \
liblz4-dev liblzo2-dev zlib1g-dev liblzma-dev haproxy"  # real keyring and audio daemons;
# an X server, key presses and a tray host; objdump and objcopy for PyInstaller
# (tests/bundle builds the Linux bundles), icupkg and a C compiler to slim Qt's ICU data in
# them (installer/pyinstaller/slim.py); mksquashfs and the static libraries the AppImage
# runtime links (installer/linux/appimage/runtime.c); HAProxy in front of several team
# servers (tests/integration/test_haproxy.py)

_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install Debian/Ubuntu packages that are not there yet (nothing to do on other systems).
install_system_packages() {
    command -v dpkg-query >/dev/null 2>&1 || { echo "not a Debian/Ubuntu system: install PortAudio and Qt's xcb libraries yourself"; return 0; }
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing system packages: ${missing[*]}"
        _as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# A virtual environment in .venv with pip up to date.
make_venv() {
    local py="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$py" -m venv .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip
}
