#!/bin/sh
# Make this machine able to build and run our Dockerfile with podman, offline from
# any image registry:
#   1. podman, buildah, runc and debootstrap installed (apt-get, as root);
#   2. a containers.conf (runc runtime, ulimits this sandbox allows) in the cache dir;
#   3. a local stand-in for the official base image `docker.io/library/python:3.11-slim`,
#      made with debootstrap from the Debian mirror apt already uses.
# Idempotent: every step is skipped when already done. Prints only the path of the
# containers.conf on stdout (export it as CONTAINERS_CONF); errors go to stderr.
#
# Environment: INTERLEAVE_CONTAINER_CACHE (default ~/.cache/interleave-container),
# DEBIAN_MIRROR (default: read from /etc/apt/sources.list{,.d/*}).
set -eu

IMAGE=docker.io/library/python:3.11-slim
SUITE=bookworm
CACHE=${INTERLEAVE_CONTAINER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/interleave-container}
CONF=$CACHE/containers.conf
LOG=$CACHE/base-image.log

die() {
    echo "container-base.sh: $*" >&2
    exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

mkdir -p "$CACHE" || die "cannot create the cache dir $CACHE"

# One at a time: two test sessions must not debootstrap into the same image.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/lock"
    flock 9
fi

# --- 1. tools -----------------------------------------------------------------------
missing=""
for tool in podman buildah runc debootstrap; do
    # runc and debootstrap live in sbin, which a non-root PATH may lack.
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] ||
        missing="$missing $tool"
done
if [ -n "$missing" ]; then
    is_root || die "missing:$missing; run this script as root (it installs them with apt-get)"
    command -v apt-get >/dev/null 2>&1 || die "missing:$missing, and there is no apt-get to install them"
    export DEBIAN_FRONTEND=noninteractive
    {
        apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing
    } >"$CACHE/apt.log" 2>&1 || {
        tail -n 20 "$CACHE/apt.log" >&2
        die "apt-get install$missing failed (log: $CACHE/apt.log)"
    }
fi
PATH=$PATH:/usr/sbin:/sbin
export PATH

# --- 2. containers.conf -------------------------------------------------------------
# crun needs cgroup controllers this sandbox cannot have, and the default open-files
# ulimit cannot be raised here.
tmp_conf=$(mktemp "$CACHE/containers.conf.XXXXXX")
cat >"$tmp_conf" <<'EOF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
if cmp -s "$tmp_conf" "$CONF"; then
    rm -f "$tmp_conf"
else
    chmod 644 "$tmp_conf"
    mv -f "$tmp_conf" "$CONF"
fi
CONTAINERS_CONF=$CONF
export CONTAINERS_CONF

# --- 3. the stand-in base image ----------------------------------------------------
if podman image exists "$IMAGE" 2>/dev/null; then
    echo "$CONF"
    exit 0
fi
podman info >/dev/null 2>&1 || die "podman does not work here: $(podman info 2>&1 | tail -n 1)"
is_root || die "the base image $IMAGE is missing and building it (debootstrap) needs root"

# The Debian mirror apt uses: a main Debian suite (not -security/-updates, not a
# third-party repo), from one-line .list files or deb822 .sources files.
find_mirror() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        case $f in
            *.sources)
                # deb822: stanzas separated by blank lines.
                awk '
                    function flush() {
                        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
                            print uris "|" suites "|" comps
                        types = uris = suites = comps = enabled = ""
                    }
                    /^[ \t]*#/ { next }
                    /^[ \t]*$/ { flush(); next }
                    { key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
                    key == "types:" { types = $0 }
                    key == "uris:" { uris = $0 }
                    key == "suites:" { suites = $0 }
                    key == "components:" { comps = $0 }
                    key == "enabled:" { enabled = $0 }
                    END { flush() }
                ' "$f"
                ;;
            *)
                # deb [options] URI suite components...
                sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
                    awk '$1 == "deb" && NF >= 3 { c = ""; for (i = 4; i <= NF; i++) c = c " " $i; print $2 "|" $3 "|" c }'
                ;;
        esac
    done | while IFS='|' read -r uris suites comps; do
        for suite in $suites; do
            case $suite in
                bookworm | bullseye | buster | trixie | forky | sid | stable | oldstable | testing | unstable) ;;
                *) continue ;;
            esac
            case " $comps " in *" main "*) ;; *) continue ;; esac
            for uri in $uris; do
                case $uri in
                    http://* | https://*) echo "${uri%/}" ;;
                esac
            done
        done
    done | head -n 1
}
MIRROR=${DEBIAN_MIRROR:-$(find_mirror)}
[ -n "$MIRROR" ] || {
    MIRROR=http://deb.debian.org/debian
    echo "container-base.sh: no Debian mirror in /etc/apt/sources.list*, using $MIRROR" >&2
}

CA=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$CA" ] || die "no CA bundle at $CA (set SSL_CERT_FILE): pip inside the build needs it"

ROOTFS=$(mktemp -d "$CACHE/rootfs.XXXXXX")
cleanup() {
    # debootstrap mounts proc/sys (and maybe binds /dev) in the target: unmount
    # everything under ROOTFS, deepest first, before removing it.
    awk -v r="$ROOTFS" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    if awk -v r="$ROOTFS" '$2 == r || index($2, r "/") == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "container-base.sh: $ROOTFS still has mounts; left in place" >&2
    else
        rm -rf --one-file-system "$ROOTFS"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$LOG" 2>&1 || {
    tail -n 20 "$LOG" >&2
    die "debootstrap $SUITE from $MIRROR failed (log: $LOG)"
}

# Look like the official image: `python` and `pip` on PATH in /usr/local/bin, and pip
# allowed to install into the system Python (no PEP 668 marker there).
ln -sf /usr/bin/python3 "$ROOTFS/usr/local/bin/python"
ln -sf /usr/bin/pip3 "$ROOTFS/usr/local/bin/pip"
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
# TLS to the package registries is intercepted on these machines.
cp "$CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# Slim: no package lists or downloaded .debs.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb

tar --numeric-owner --one-file-system -C "$ROOTFS" -c . 2>>"$LOG" |
    podman import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$IMAGE" >>"$LOG" 2>&1 || {
    tail -n 20 "$LOG" >&2
    die "podman import of the base image failed (log: $LOG)"
}
podman image exists "$IMAGE" || die "podman import did not produce $IMAGE (log: $LOG)"
echo "$CONF"
