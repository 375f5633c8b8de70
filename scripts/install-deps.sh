#!/usr/bin/env bash
# Installs what building and testing Vedette needs, and only what is missing.
#
# Idempotent and quiet when nothing is missing, so `make build` and `make test` run it every time.
# Debian/Ubuntu: apt packages; macOS: Homebrew formulae. The Rust toolchain itself comes from
# rustup, which this script does not download: it only says how to get it.
set -euo pipefail

# To extend: add packages here (one place per platform).
DEBIAN_PACKAGES=(
    # Rust crates with C parts; bindgen (ffmpeg-sys-next) needs libclang.
    build-essential pkg-config clang libclang-dev
    # FFmpeg development files for ffmpeg-next.
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev
    libswresample-dev
    # Audio output (cpal uses ALSA on Linux).
    libasound2-dev
    # Tests: the ffmpeg/ffprobe CLI and the GStreamer RTSP server in tests/support/.
    ffmpeg
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad
    gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 python3-gi
    ca-certificates curl
    # RTSPS tests make self-signed certificates.
    openssl
    # Interop tests: VLC as a second, UDP-only RTSP server (it answers 461 to TCP).
    vlc-bin vlc-plugin-base
    # Loss-injection tests: a network namespace with an nftables rule (no netem here).
    iproute2 nftables
    # The window (eframe/wgpu): X11 and Wayland client libraries, and Mesa so wgpu finds an
    # adapter without a GPU (lavapipe for Vulkan, llvmpipe for GL).
    libx11-6 libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon0 libxkbcommon-x11-0
    libwayland-client0 libwayland-cursor0 libwayland-egl1 libvulkan1 mesa-vulkan-drivers
    libegl1 libgl1 libgl1-mesa-dri
    # Tests of the real window: a private X server (screenshots are grabbed with ffmpeg).
    xvfb xauth
    # `make bench`: GStreamer's own player (decodebin needs avdec_h264) beside Vedette.
    gstreamer1.0-libav
    # Keychain tests (tests/credentials.rs): a private D-Bus session, GNOME Keyring, secret-tool.
    dbus gnome-keyring libsecret-tools
    # File dialogs (rfd): the XDG desktop portal over D-Bus when there is one, else zenity.
    zenity
)
BREW_FORMULAE=(pkg-config ffmpeg gstreamer gst-rtsp-server pygobject3)
RUST_COMPONENTS=(rustfmt clippy)

say() { printf 'install-deps: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root to run: $*  (and sudo is not installed)"
        exit 1
    fi
}

install_debian_packages() {
    local missing=() package
    for package in "${DEBIAN_PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
            missing+=("$package")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_brew_formulae() {
    if ! command -v brew >/dev/null 2>&1; then
        say "Homebrew is missing; install it from https://brew.sh, then run this again"
        exit 1
    fi
    local missing=() formula
    for formula in "${BREW_FORMULAE[@]}"; do
        brew list --formula "$formula" >/dev/null 2>&1 || missing+=("$formula")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing: ${missing[*]}"
    brew install "${missing[@]}"
}

ensure_rust_toolchain() {
    # `make` and CI shells do not always source ~/.cargo/env.
    if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        say "no Rust toolchain: cargo is neither on PATH nor in ~/.cargo/bin."
        say "Install rustup from https://rustup.rs (it installs cargo, rustfmt and clippy),"
        say "open a new shell (or run: . \"\$HOME/.cargo/env\"), then run this again."
        exit 1
    fi
    command -v rustup >/dev/null 2>&1 || return 0
    local missing=() component installed
    installed=$(rustup component list --installed 2>/dev/null || true)
    for component in "${RUST_COMPONENTS[@]}"; do
        grep -q "^${component}-" <<<"$installed" || missing+=("$component")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "adding Rust components: ${missing[*]}"
    rustup component add "${missing[@]}"
}

case "$(uname -s)" in
    Linux)
        if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
            install_debian_packages
        else
            say "unsupported Linux distribution (no apt). Install the equivalents of:"
            say "  ${DEBIAN_PACKAGES[*]}"
            exit 1
        fi
        ;;
    Darwin)
        install_brew_formulae
        ;;
    *)
        say "unsupported system '$(uname -s)'. Install a Rust toolchain (https://rustup.rs), FFmpeg"
        say "development files, libclang, pkg-config, and for the tests GStreamer with"
        say "gst-rtsp-server and PyGObject (see packaging/windows/README.md on Windows)."
        exit 1
        ;;
esac
ensure_rust_toolchain
