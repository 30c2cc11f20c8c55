# Shared helpers for scripts/test and scripts/demo: idempotent installs into $AUDIOSUBNET_CACHE.
# Sourced, not executed.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_DIR=${AUDIOSUBNET_SHARED:-$(cd "$REPO_ROOT/.." && pwd)/shared}
AUDIOSUBNET_CACHE=${AUDIOSUBNET_CACHE:-$REPO_ROOT/.cache}
export AUDIOSUBNET_CACHE
mkdir -p "$AUDIOSUBNET_CACHE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_apt PKG...: installs the Debian packages that are missing (needs root, as on CI).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv NAME "PIP ARGS...": a Python venv under the cache, rebuilt when its requirements change.
# Prints the venv's python path.
ensure_venv() {
  local name=$1; shift
  local reqs="$*"
  local dir="$AUDIOSUBNET_CACHE/venv/$name"
  local stamp="$dir/.requirements"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$reqs" ]; then
    echo "$dir/bin/python"; return 0
  fi
  log "creating Python venv $name ($reqs)"
  rm -rf "$dir"
  python3 -m venv "$dir" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check $reqs >&2
  echo "$reqs" > "$stamp"
  echo "$dir/bin/python"
}

# The Python SDK the interop tests talk to (bittensor-wallet comes with it).
ensure_bittensor_venv() {
  ensure_venv bt10 "bittensor==10.5.0"
}
