#!/usr/bin/env bash
# Installs what AGIR builds with (Debian packages), fetches the default LLM (tools/fetch_model.sh)
# and configures + builds it into build/.
# Idempotent: when everything is present it only runs an incremental build.
#   tools/setup.sh            install missing packages, build build/
#   BUILD_DIR=dir CMAKE_ARGS="-DAGIR_CUDA=OFF" tools/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config            # toolchain
  libhdf5-dev hdf5-tools                      # gait and token stores
  libinih-dev libcjson-dev libpcre2-dev       # configs, JSON, tokenizer regex
  libssl-dev                                  # SHA-256 of checkpoint files (libcrypto)
  zlib1g-dev                                  # checking deflated HDF5 chunks before libhdf5 reads them
  libopenblas-dev libopenmpi-dev openmpi-bin  # CPU GEMM, data parallelism
  libcmocka-dev                               # unit tests
  libcairo2-dev                               # plots
  clang libfuzzer-14-dev                      # fuzzing
  python3-h5py python3-numpy                  # the h5py-readability test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The default LLM (models-cache/, ~100 MB); without it the tests that need it are skipped.
# AGIR_NO_MODEL=1 skips the download.
if [ "${AGIR_NO_MODEL:-0}" != 1 ]; then
  tools/fetch_model.sh || echo "setup: continuing without the default model (tests that need it will be skipped)"
fi

build_dir=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup: built $build_dir/agir"
