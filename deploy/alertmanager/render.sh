#!/bin/sh
# Renders an Alertmanager config template: every ${CANARY_...} placeholder is
# replaced by that environment variable. Fails, writing nothing, when one is
# unset, so Alertmanager never starts with a half-filled config.
#
#   render.sh TEMPLATE OUTPUT
#
# POSIX sh and awk only: it runs in the busybox-based Alertmanager image.
set -eu
[ $# -eq 2 ] || { echo "usage: render.sh TEMPLATE OUTPUT" >&2; exit 2; }
tmp="$2.tmp.$$"
trap 'rm -f "$tmp"' EXIT
awk '{
    line = $0
    out = ""
    while (match(line, /\$\{CANARY_[A-Z0-9_]+\}/)) {
        name = substr(line, RSTART + 2, RLENGTH - 3)
        if (!(name in ENVIRON) || ENVIRON[name] == "") {
            printf "render.sh: %s is not set (line %d)\n", name, NR > "/dev/stderr"
            failed = 1
            exit 1
        }
        out = out substr(line, 1, RSTART - 1) ENVIRON[name]
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}' "$1" > "$tmp"
mv "$tmp" "$2"
