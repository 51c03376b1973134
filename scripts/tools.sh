# Sourced by scripts/test and scripts/demo: the programs besides Python that they start or drive.

# Install the Debian packages whose commands are missing (apt-get update once, first).
ensure_debian_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        command -v "${pkg%%:*}" >/dev/null 2>&1 || missing+=("${pkg##*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing Debian packages: ${missing[*]} ..." >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Azurite (the Azure Blob emulator) from npm, pinned by tests/tools/package-lock.json.
ensure_azurite() {
    local dir=tests/tools
    local stamp="$dir/node_modules/.installed"
    local want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    ensure_debian_packages node:nodejs npm
    echo "installing Azurite, hls.js and dash.js into $dir/node_modules ..." >&2
    (cd "$dir" && npm ci --no-audit --no-fund --silent) >&2
    echo "$want" > "$stamp"
}
