#!/usr/bin/env bash
# Installs what the extension-host and UI tests need, with no network but the npm registry and Debian's apt:
#   * apt: chromium (headless browser for the workbench), nginx (the nginx export is tested against the real one; the
#     tests run their own nginx processes on free ports), libkrb5-dev (gssapi headers for code-server's `kerberos`
#     native module), ripgrep (seeds @vscode/ripgrep's download cache, its postinstall would fetch from GitHub);
#   * npm: code-server@4.100.3 (= VS Code 1.100.3 server + web workbench, the newest release whose engines.node is 20),
#     installed OUTSIDE the repo in a cache dir so a fresh clone reuses it.
# Idempotent and safe to run concurrently (flock). Prints the code-server executable path on stdout; logs go to stderr.
# test/README.md ("The test host") says how the suites use it and what to watch out for.
set -euo pipefail

CS_VERSION=4.100.3
RG_PKG=1.15.11                                                # @vscode/ripgrep pinned by that release
RG_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz  # asset name its postinstall looks for
CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/vscode-test-host
DEST=${VSCODE_TEST_HOST_DIR:-$CACHE_ROOT/code-server-$CS_VERSION}
BIN=$DEST/node_modules/.bin/code-server
CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}

log() { echo "[install-test-host] $*" >&2; }
die() { echo "[install-test-host] ERROR: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not on PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || log "warning: code-server $CS_VERSION targets Node 20, this is Node $(node -v)"

# ---- apt packages -------------------------------------------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need=()
[ -x "$CHROMIUM" ] || command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || need+=(nginx)
if ! { [ -f "$DEST/.complete" ] && [ -x "$BIN" ]; }; then     # build-time only deps: needed just for a fresh install
  command -v rg >/dev/null || need+=(ripgrep)
  have_pkg libkrb5-dev || need+=(libkrb5-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing apt packages: ${need[*]} — run as root, or: sudo apt-get install -y ${need[*]}"
  command -v apt-get >/dev/null || die "missing packages ${need[*]} and no apt-get on this machine"
  # with Recommends, as measured in the recipe: chromium-common recommends fonts-liberation and libgl1-mesa-dri
  log "apt-get install ${need[*]}"
  t0=$SECONDS
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "${need[@]}"
  } >&2 || die "apt-get install ${need[*]} failed"
  log "apt done in $((SECONDS - t0)) s"
fi
[ -x "$CHROMIUM" ] || die "chromium not found at $CHROMIUM (set CHROMIUM_PATH)"

# ---- code-server ----------------------------------------------------------------------------------------------------
if [ -f "$DEST/.complete" ] && [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

mkdir -p "$(dirname "$DEST")"
exec 9>"$DEST.lock"
if ! flock -n 9; then log "another install is running, waiting for it"; flock 9; fi
if [ -f "$DEST/.complete" ] && [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi   # the other one finished it

command -v rg >/dev/null || die "ripgrep (rg) is required to seed @vscode/ripgrep's cache"
# @vscode/ripgrep's postinstall downloads rg from GitHub unless the tarball is already in its cache dir.
RG_CACHE="$(node -p 'require("os").tmpdir()')/vscode-ripgrep-cache-$RG_PKG"
mkdir -p "$RG_CACHE"
if [ ! -s "$RG_CACHE/$RG_ASSET" ]; then
  stage=$(mktemp -d); cp "$(command -v rg)" "$stage/rg"
  tar czf "$RG_CACHE/$RG_ASSET.tmp" -C "$stage" rg && mv "$RG_CACHE/$RG_ASSET.tmp" "$RG_CACHE/$RG_ASSET"
  rm -rf "$stage"
fi

log "npm install code-server@$CS_VERSION into $DEST (takes 1-2 min)"
t0=$SECONDS
rm -rf "$DEST"; mkdir -p "$DEST"      # installed in place (native builds may record paths); .complete marks success
echo '{ "private": true }' > "$DEST/package.json"
# unsafe_perm: code-server's postinstall refuses to run as root without it (npm 11 warns "Unknown env config", the
# script reads the variable anyway); yes: node-pty's postinstall runs `npx node-gyp`, which otherwise aborts.
if ! ( cd "$DEST" && npm_config_unsafe_perm=true npm_config_yes=true \
        npm install --no-audit --no-fund --no-save --loglevel=error "code-server@$CS_VERSION" ) >&2; then
  die "npm install code-server@$CS_VERSION failed (see above)"
fi
empty_cfg=$(mktemp); "$BIN" --config "$empty_cfg" --version >&2 || die "code-server installed but does not run"; rm -f "$empty_cfg"
touch "$DEST/.complete"
log "code-server ready in $((SECONDS - t0)) s: $BIN"
echo "$BIN"
