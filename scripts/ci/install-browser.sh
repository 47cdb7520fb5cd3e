#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/browser). Playwright drives it as its
# executable; a test tool's own browser download does not work on CI machines like ours.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium fonts-noto-cjk
