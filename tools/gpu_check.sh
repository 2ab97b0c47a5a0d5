#!/usr/bin/env bash
# One check of the CUDA backend on a machine with an NVIDIA GPU, within 8 minutes:
#   1. the GPU and driver (nvidia-smi), the toolkit (nvcc);
#   2. a CUDA build (build-gpu/, -DAGIR_CUDA=ON, the GPU's own architecture);
#   3. every gpu_* test (the CUDA kernels and the models on the GPU against the CPU reference);
#   4. training on the GPU, timed: the demo VQ-VAE for 200 updates, and the SFT job (stage 1) for 10
#      updates on the embedded SmolLM2 when models-cache/ holds it (tools/fetch_model.sh), else on
#      the tiny test model; updates/s and tokens/s from the runs' metrics.jsonl;
# and writes REPORT_DIR/gpu_check.txt (plus the logs) with what it found. Nothing in the project
# depends on it; every step that fails is reported and the script goes on.
#   tools/gpu_check.sh REPORT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/gpu_check.sh REPORT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
report=$out/gpu_check.txt
t_start=$(date +%s)
: > "$report"
say() { echo "$*" | tee -a "$report"; }
left() { echo $((480 - ($(date +%s) - t_start))); }  # seconds of the 8 minutes left

say "gpu_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi > "$out/nvidia-smi.txt" 2>&1; then
  say "no NVIDIA GPU visible (nvidia-smi missing or failing): nothing to check"
  exit 0
fi
say "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | head -1)"
say "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo missing)"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')

# 2. Build.
t0=$(date +%s)
if cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DAGIR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" \
     > "$out/build.log" 2>&1 && timeout "$(left)" cmake --build build-gpu -j "$(nproc)" >> "$out/build.log" 2>&1; then
  say "build: ok in $(($(date +%s) - t0)) s (sm_$arch)"
else
  say "build: FAILED after $(($(date +%s) - t0)) s (tail of build.log:)"
  tail -20 "$out/build.log" | tee -a "$report"
  exit 0
fi
bin=build-gpu/agir

# 3. The gpu_* tests.
t0=$(date +%s)
(cd build-gpu && timeout "$(left)" ctest -R '^gpu_' --output-on-failure > "$out/gpu_tests.log" 2>&1)
say "gpu tests ($(($(date +%s) - t0)) s): $(grep -E 'tests passed|tests failed' "$out/gpu_tests.log" | tail -1)"
grep -E '^ *[0-9]+/[0-9]+ Test' "$out/gpu_tests.log" | sed 's/^ */  /' | tee -a "$report"

# 4. Training on the GPU.
work=$out/work
mkdir -p "$work"
rate() {  # rate FILE KEY: mean of KEY over the "train" records of a metrics file
  awk -v k="\"$2\":" '/"event":"train"/ { i = index($0, k); if (i) { s += substr($0, i + length(k)) + 0; n++ } }
                      END { if (n) printf "%.1f", s / n; else printf "n/a" }' "$1"
}
if [ "$(left)" -gt 60 ]; then
  $bin synth configs/synth.ini --set synth.output="$work/synth.h5" --set run.dir="$work/synth" \
    --set run.log_level=quiet --force > "$out/vq.log" 2>&1
  t0=$(date +%s)
  timeout "$(left)" $bin train configs/vqvae_demo.ini --set data.path="$work/synth.h5" --set run.dir="$work/vq" \
    --set run.device=cuda --set train.steps=200 --set train.log_every=50 --set train.val_every=0 \
    --set train.ckpt_every=200 >> "$out/vq.log" 2>&1 && st=ok || st=FAILED
  say "vqvae demo on the GPU: $st, 200 updates in $(($(date +%s) - t0)) s, $(rate "$work/vq/metrics.jsonl" steps_per_s) updates/s"
fi
if [ "$(left)" -gt 90 ]; then
  $bin describe "$work/synth.h5" --out "$work/text.h5" --quiet --force > "$out/sft.log" 2>&1
  $bin tokenize --model "$work/vq" "$work/text.h5" --out "$work/tokens.h5" --quiet --force >> "$out/sft.log" 2>&1
  model=() what="SmolLM2-135M"
  if ! ls models-cache/*.gguf > /dev/null 2>&1; then
    build-gpu/tests/make_tiny_llm "$work/tiny" tests/fixtures/tokenizer/smollm.json >> "$out/sft.log" 2>&1
    model=(--set model.path="$work/tiny") what="the tiny test model"
  fi
  t0=$(date +%s)
  timeout "$(left)" $bin train configs/sft_stage1.ini --set data.tokens="$work/tokens.h5" \
    --set data.texts="$work/text.h5" --set data.tokenizer="$work/vq" "${model[@]}" --set run.dir="$work/sft" \
    --set run.device=cuda --set train.steps=10 --set train.log_every=2 --set train.val_every=0 \
    --set train.val_max=8 >> "$out/sft.log" 2>&1 && st=ok || st=FAILED
  say "sft stage 1 on the GPU ($what): $st, 10 updates in $(($(date +%s) - t0)) s (validation and loading" \
    "included), $(rate "$work/sft/metrics.jsonl" tokens_per_s) tokens/s"
  grep '^sft: step' "$out/sft.log" | tail -1 | tee -a "$report"
fi
say "gpu_check: done in $(($(date +%s) - t_start)) s; logs in $out"
