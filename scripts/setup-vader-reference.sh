#!/usr/bin/env bash
# Creates <repo>/.tools/vader-venv with CPython 3.12 and vaderSentiment 3.3.2,
# the reference the canary-vader differential test runs against.
# Idempotent: returns at once when the venv already imports the right version.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.tools/vader-venv"
want="3.3.2"

check() {
    "$venv/bin/python" - "$want" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import vaderSentiment  # noqa: F401
ok = sys.version_info[:2] == (3, 12) and version("vaderSentiment") == sys.argv[1]
sys.exit(0 if ok else 1)
PY
}

if [ -x "$venv/bin/python" ] && check; then
    echo "vader reference ready: $venv"
    exit 0
fi

# The golden files follow CPython 3.12's sum(); find a 3.12 interpreter.
find_python() {
    local c
    for c in "${PYTHON312:-}" python3.12 "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/3.12*/bin/python3.12; do
        [ -n "$c" ] || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

py="$(find_python)" || { echo "python3.12 not found (set PYTHON312=/path/to/python3.12)" >&2; exit 1; }
rm -rf "$venv"
mkdir -p "$repo/.tools"
"$py" -m venv "$venv"
"$venv/bin/pip" install --disable-pip-version-check -q "vaderSentiment==$want"
check || { echo "vaderSentiment $want did not install into $venv" >&2; exit 1; }
echo "vader reference ready: $venv"
