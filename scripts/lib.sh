# Shared by scripts/demo, scripts/test and scripts/bench: installs the Debian
# packages the build needs (apt-get, only those missing) and builds a
# configuration. Source it; do not run it.

FS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages: compilers and tools, then the libraries found with
# pkg-config; tzdata for the rules engine's time zones; iproute2 for the
# network-namespace test; gettext (msgfmt, xgettext) for the translation
# catalogs in po/, locales (localedef) for the zh_CN.UTF-8 locale; libssl-dev
# (which libwebsockets-dev pulls in too) for serve's check of a renewed TLS
# certificate before libwebsockets takes it; libopencc-dev (and the data files
# of its libopencc1.1) folds Traditional Chinese to Simplified for search and
# names (core/search.c); libpq-dev for the PostgreSQL store (issue 21.2) and
# postgresql for the throw-away clusters its tests start (tests/pg/cluster.sh).
FS_PACKAGES="build-essential cmake pkg-config clang libclang-rt-14-dev
 libsqlite3-dev libsodium-dev libmsgpack-dev libwebsockets-dev libssl-dev libcjson-dev libzstd-dev libopencc-dev
 libpq-dev postgresql
 python3 tzdata iproute2
 openssl curl gettext locales groff-base systemd"

fs_install_deps() {
    local missing=()
    for p in $FS_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing Debian packages with apt-get: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    # The Chinese interface is tested under LANG=zh_CN.UTF-8 (tests/cli/test_lang.sh);
    # a fresh Debian has only C.UTF-8.
    if ! locale -a 2>/dev/null | grep -qix 'zh_CN\.utf-\?8'; then
        echo "==> generating the zh_CN.UTF-8 locale"
        $sudo localedef -i zh_CN -f UTF-8 zh_CN.UTF-8
    fi
}

# What the browser tests need (tests/browser): Debian's chromium, a CJK font, node and npm
# (Debian's, unless a node with npm is already there), and playwright-core
# from the npm registry, pinned in tests/browser/package.json.
fs_install_browser_deps() {
    local missing=() sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" \
        || missing+=(chromium)
    command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
    # A CJK font, so that the dashboard's Chinese renders as characters and
    # not as empty boxes in the screenshots (WenQuanYi Zen Hei: one small
    # package with Simplified and Traditional glyphs).
    dpkg-query -W -f='${Status}' fonts-wqy-zenhei 2>/dev/null | grep -q "install ok installed" \
        || missing+=(fonts-wqy-zenhei)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "==> installing Debian packages with apt-get: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    if [ ! -d "$FS_ROOT/tests/browser/node_modules/playwright-core" ] ||
        [ ! -d "$FS_ROOT/tests/browser/node_modules/axe-core" ]; then
        echo "==> installing playwright-core and axe-core with npm (tests/browser)"
        (cd "$FS_ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}

# fs_build DIR [cmake options...]: configure and build into DIR; on failure
# prints the end of the build log.
fs_build() {
    local dir=$1
    shift
    cmake -S "$FS_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || return 1
    if ! cmake --build "$dir" -j "$(nproc)" >"$dir/build.log" 2>&1; then
        echo "build failed in $dir; the end of $dir/build.log:" >&2
        tail -40 "$dir/build.log" >&2
        return 1
    fi
}

# ---- stress: two CPU-bound processes beside the tests (issue 20.8) ----
# Every test that races a clock must hold with the machine busy; scripts/test
# --stress and scripts/stress run tests that way. fs_stress_start starts two
# busy loops at the tests' own priority and sets FS_STRESS_PIDS (exported, a
# space-separated list); fs_stress_stop stops exactly those, by PID.
fs_stress_start() {
    local pids=() i
    for i in 1 2; do
        bash -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
        pids+=($!)
    done
    export FS_STRESS_PIDS="${pids[*]}"
    echo "==> stress: two CPU-bound processes beside the tests (PIDs $FS_STRESS_PIDS)"
}

fs_stress_stop() {
    local p
    for p in ${FS_STRESS_PIDS-}; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [ -n "${FS_STRESS_PIDS-}" ] && echo "==> stress: stopped PIDs $FS_STRESS_PIDS"
    FS_STRESS_PIDS=
    return 0
}
