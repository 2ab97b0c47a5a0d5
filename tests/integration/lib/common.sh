# Shared by the integration scripts (sourced, not a test itself: ctest runs integration/*.sh only).
# Sets A (the agir under test) and SRC (the source tree), makes a private temporary folder $tmp
# (removed on exit) and enters it, and defines the checks below.
#   . "$(dirname "$0")/lib/common.sh"
set -euo pipefail
A=${AGIR_BIN:?AGIR_BIN must point at the agir executable}
SRC=${AGIR_SOURCE_DIR:?AGIR_SOURCE_DIR must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

fail() {
  echo "FAIL: $*"
  exit 1
}

# refused WANT ARGS...: `agir ARGS` exits 2 with exactly one line on stderr, which contains WANT.
refused() {
  local want=$1 err rc
  shift
  set +e
  err=$("$A" "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "'agir $*' exited $rc, expected 2: $err"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'agir $*' printed more than one line: $err"
  printf '%s' "$err" | grep -qF -- "$want" || fail "'agir $*': message lacks '$want': $err"
  echo "refused as expected: agir $* -> $err"
}

# tiny_vq DATA DIR SEED STEPS: the config of a VQ-VAE small enough to train in a second on DATA,
# into run folder DIR, with a checkpoint every 2 updates; on stdout.
tiny_vq() {
  cat <<INI
[run]
job = vqvae
seed = $3
dir = $2
log_level = quiet
[data]
path = $1
window = 16
[model]
width = 16
depth = 1
codes = 16
code_dim = 8
[optim]
warmup = 0
[train]
steps = $4
batch = 4
val_every = 0
ckpt_every = 2
INI
}
