#!/usr/bin/env bash
# Installs everything the agent, its demo and its tests need on Debian/Ubuntu:
# the X tools (virtual display, window manager, input), fonts, and a Python
# virtual environment in .venv. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    xvfb xauth openbox xdotool x11-utils x11-xserver-utils xclip xterm
    mousepad libreoffice-calc
    tesseract-ocr tesseract-ocr-eng zenity yad
    dbus-daemon at-spi2-core bubblewrap dconf-gsettings-backend gsettings-desktop-schemas gnome-shell-common
    pulseaudio pulseaudio-utils
    libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-render-util0 libxcb-image0 libxcb-shape0
    libegl1 libgl1 libfontconfig1
    python3 python3-venv python3-dev python3-tk tk gcc
    fonts-dejavu-core fonts-noto-cjk fonts-noto-color-emoji
    chromium
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "Creating the Python environment in .venv"
    python3 -m venv .venv
fi
echo "Installing Python packages"
# torch is pinned so that nothing drags in another build: on a machine with the CPU wheel in
# its package index that one is taken (small, no CUDA); elsewhere pip picks the usual build.
.venv/bin/python -m pip install -q --disable-pip-version-check -c scripts/constraints.txt -e ".[model,test,eval,mcp,ray]"
# pyautogui drags in python3-xlib 0.15, which overwrites the Xlib package that pynput and
# pywinctl need; put 0.33 back.
.venv/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps python-xlib==0.33
