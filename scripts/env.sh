# Sourced by scripts/demo and scripts/test: a project virtualenv with pinned packages.
# Re-installs only when pyproject.toml or constraints.txt changed since the last run.

ensure_venv() {
    local extras="$1"
    local py="${PYTHON:-python3}"
    if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "proxy needs Python 3.11 or newer ($py is $("$py" --version 2>&1))" >&2
        exit 1
    fi
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    local stamp=".venv/.installed-${extras:-runtime}"
    local want
    want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing Python packages into .venv ..." >&2
        .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt \
            -e ".${extras:+[$extras]}" >&2
        echo "$want" > "$stamp"
    fi
}
