#!/usr/bin/env bash
# Regenerates tests/malformed/vq_ckpt/: damaged or mismatched VQ-VAE run folders, each refused by
# `agir eval-vq --model CASE ...` with exit 2 and one line. A tiny tokenizer is trained (width 4,
# 4 codes, one step) on a small synthetic dataset, its checkpoint copied into each case without
# the optimizer and EMA files, then damaged; where the damage is not the point, manifest.json is
# rewritten so the manifest check passes and the intended check is reached.
#   tools/make_vq_malformed.sh [path/to/agir]      (default build/agir)
set -euo pipefail
cd "$(dirname "$0")/.."
agir=$(realpath "${1:-build/agir}")
out=$PWD/tests/malformed/vq_ckpt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && "$agir" synth "$OLDPWD/configs/synth.ini" --set synth.subjects=2 --set synth.walks_per_state=1 \
  --set synth.seconds=4 --set run.dir="$tmp/synth" --set run.log_level=quiet >/dev/null)
cat >"$tmp/tiny.ini" <<EOF
[run]
job = vqvae
dir = $tmp/run
log_level = quiet
[data]
path = $tmp/data/synth.h5
window = 16
[model]
width = 4
depth = 1
codes = 4
code_dim = 4
[optim]
warmup = 0
[train]
steps = 1
batch = 2
val_every = 0
EOF
"$agir" train "$tmp/tiny.ini" >/dev/null

# case NAME EDIT: a copy of the trained run folder, model files only, then EDIT (python, run in
# the case's ckpt folder).
case_dir() {
  local d=$out/$1
  rm -rf "$d"
  mkdir -p "$d/ckpt-1"
  printf 'ckpt-1\n' >"$d/LATEST"
  cp "$tmp/run/ckpt-1/model.safetensors" "$tmp/run/ckpt-1/state.json" "$d/ckpt-1/"
  (cd "$d/ckpt-1" && python3 -c "$PY
$2")
}

PY='
import hashlib, json, os, struct
def manifest():
    files = {n: {"bytes": os.path.getsize(n), "sha256": hashlib.sha256(open(n, "rb").read()).hexdigest()}
             for n in sorted(os.listdir(".")) if n != "manifest.json"}
    json.dump({"format": "agir-checkpoint", "version": 1, "step": 1, "files": files}, open("manifest.json", "w"), indent=1)
def edit_state(f):
    s = json.load(open("state.json")); f(s); json.dump(s, open("state.json", "w"), indent=1)
def set_float(name, index, value):
    b = bytearray(open("model.safetensors", "rb").read())
    n = struct.unpack("<Q", b[:8])[0]
    start = 8 + n + json.loads(b[8:8 + n])[name]["data_offsets"][0] + 4 * index
    b[start:start + 4] = struct.pack("<f", value)
    open("model.safetensors", "wb").write(b)
'
rm -rf "$out"
mkdir -p "$out"
case_dir truncated_weights 'manifest(); b = open("model.safetensors", "rb").read(); open("model.safetensors", "wb").write(b[:len(b) // 2])'
case_dir hash_mismatch 'manifest(); set_float("dec.0.bias", 1, 123.0)'
case_dir missing_weights 'manifest(); os.remove("model.safetensors")'
case_dir wrong_model_type 'edit_state(lambda s: s.update(model_type="llama-lora")); manifest()'
case_dir wrong_shapes 'edit_state(lambda s: s["extra"]["vqvae"].update(width=8)); manifest()'
case_dir bad_meta 'edit_state(lambda s: s["extra"].update(window=10)); manifest()'
case_dir no_meta 'edit_state(lambda s: s.pop("extra")); manifest()'
case_dir nan_weight 'set_float("enc.0.weight", 7, float("nan")); manifest()'
case_dir zero_std 'set_float("norm.std", 3, 0.0); manifest()'
# A run folder that never saved a checkpoint.
rm -rf "$out/no_checkpoint"
mkdir -p "$out/no_checkpoint"
cp "$tmp/run/config.ini" "$out/no_checkpoint/"
sed -i "s#$tmp#/tmp/agir-vq-malformed#g" "$out/no_checkpoint/config.ini"
echo 'eval-vq --model {} no-such-data.h5' >"$out/COMMAND"
cat >"$out/README.md" <<'EOF'
Damaged or mismatched VQ-VAE run folders (each case is a folder; `tools/make_vq_malformed.sh`
regenerates them). The commands load the model before the data, so the missing data file of
COMMAND is never reached: every case must be refused for its checkpoint alone.
EOF
du -sh "$out"
