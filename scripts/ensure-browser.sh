#!/bin/sh
# Make sure the browser tests have a Chromium: Debian's package when we are root on a
# Debian-like machine (the way CI and these machines work: browser downloads fail
# here), otherwise Playwright's own download (an ordinary laptop with internet).
set -e
PY=${1:-python3}
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
    exit 0
fi
echo "no /usr/bin/chromium and not root: asking Playwright for its own Chromium"
"$PY" -m playwright install chromium
