#!/bin/sh
# Make sure the compiled recorder can be built: a C compiler and the running Python's
# headers (app/hotpath.py, setup.py). Debian's packages when we are root on a
# Debian-like machine (the way CI works); otherwise one line says the recorder will
# run interpreted, and nothing fails: the same sources run without a compiler.
set -e
PY=${1:-python3}
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if command -v cc >/dev/null 2>&1 && [ -f "$include/Python.h" ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    packages="gcc libc6-dev"
    # Debian's own Python keeps its headers in python3-dev; a Python built from source
    # (pyenv, the official images) ships them beside itself.
    [ -f "$include/Python.h" ] || packages="$packages python3-dev"
    echo "installing $packages for the compiled recorder..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
    exit 0
fi
echo "no C compiler or no Python headers ($include/Python.h), and not root: the recorder will run interpreted"
