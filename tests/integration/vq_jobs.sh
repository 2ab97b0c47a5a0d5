#!/usr/bin/env bash
# The motion-tokenizer jobs end to end on a tiny model: `agir train` (a few steps) → `agir tokenize`
# (token store with the model's identity) → `agir info` → `agir decode` → `agir plot skeleton` →
# `agir eval-vq` (table and JSON). Checks exit codes, the identity recorded (the SHA-256 of the
# checkpoint's weights file, codebook size, frames per code, fps), code and frame counts derived
# from the data, that a single checkpoint folder gives the same codes as its run folder, and that
# codes are refused by another tokenizer, bad subjects and wrong files (exit 2, one line).
. "$(dirname "$0")/lib/common.sh"
if ! "$A" help train >/dev/null 2>&1; then
  echo "SKIPPED: this build has no 'agir train' to make a checkpoint"
  exit 77
fi
json() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

"$A" synth "$AGIR_SOURCE_DIR/configs/synth.ini" --set synth.subjects=3 --set synth.walks_per_state=1 \
  --set synth.seconds=4 --set run.dir="$tmp/synth" --set run.log_level=quiet >/dev/null
data=$tmp/data/synth.h5
tiny_vq "$data" "$tmp/run" 5 4 >tiny.ini
"$A" train tiny.ini >/dev/null
ckpt=run/$(cat run/LATEST)
hash=sha256:$(sha256sum "$ckpt/model.safetensors" | cut -d' ' -f1)

# tokenize: identity and counts. 4 s at 20 fps = 80 frames = 79 feature rows = 20 codes of 4 frames.
"$A" tokenize --model run "$data" --out tokens.h5 --quiet
"$A" info tokens.h5 --json >info.json
[ "$(json info.json 'd["model_hash"]')" = "$hash" ] || fail "token store hash $(json info.json 'd["model_hash"]') != $hash"
[ "$(json info.json 'd["codebook_size"], d["downsample"], d["model_fps"], d["sequences"]')" = "16 4 20 6" ] ||
  fail "identity/sequences: $(json info.json 'd["codebook_size"], d["downsample"], d["model_fps"], d["sequences"]')"
[ "$(json info.json 'd["min_sequence_codes"], d["max_sequence_codes"]')" = "20 20" ] || fail "codes per sequence"
# The checkpoint folder itself gives the same store, byte for byte (the writer is deterministic).
"$A" tokenize --model "$ckpt" "$data" --out tokens2.h5 --quiet
cmp -s tokens.h5 tokens2.h5 || fail "checkpoint folder and run folder disagree"

# decode → a gait store at the model's rate, 20 codes × 4 frames per walk; plot draws it.
"$A" decode --model run tokens.h5 --out joints.h5 --quiet
"$A" info joints.h5 --json >joints.json
[ "$(json joints.json 'd["sequences"], d["frames"], list(d["fps"])')" = "6 480 ['20']" ] ||
  fail "decoded store: $(json joints.json 'd["sequences"], d["frames"], list(d["fps"])')"
id=$(python3 -c "import h5py; print(h5py.File('joints.h5')['sequences/id'][0].decode())" 2>/dev/null ||
  echo SYN001_off_walk_1)
"$A" plot skeleton joints.h5 --seq "$id" --out skel.png >/dev/null
[ "$(head -c 8 skel.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "plot did not write a PNG"
"$A" decode --model run tokens.h5 --seq "$id" --out one.h5 --quiet
[ "$(json <("$A" info one.h5 --json) 'd["sequences"]')" = "1" ] || fail "--seq decodes one sequence"

# eval-vq: the held-out subjects the training job recorded, 2 walks each.
held=$(json "$ckpt/state.json" '",".join(d["extra"]["val_subjects"])')
[ -n "$held" ] || fail "the checkpoint records no held-out subjects"
"$A" eval-vq --model run "$data" --json eval.json --quiet >table.txt
n_held=$(awk -F, '{print NF}' <<<"$held")
[ "$(json eval.json 'd["sequences"], d["held_out"], d["subjects"] == "'"$held"'".split(",")')" = "$((2 * n_held)) True True" ] ||
  fail "eval: $(json eval.json 'd["sequences"], d["held_out"], d["subjects"]')"
json eval.json '0 < d["mpjpe_mm"] < 1e4 and 0 < d["codebook"]["usage"] <= 1 and d["codebook"]["used"] <= 16 and
  1 <= d["codebook"]["perplexity"] <= 16 and d["codes"] == 20 * d["sequences"] and d["frames"] == 79 * d["sequences"] and
  d["model"]["hash"] == "'"$hash"'" and len(d["features"]["per_feature"]) > 10' | grep -qx True || fail "eval.json values"
grep -q "^MPJPE " table.txt && grep -q "^codebook " table.txt || fail "eval table: $(cat table.txt)"
"$A" eval-vq --model run "$data" --subjects SYN001,SYN002 --json eval2.json --quiet >/dev/null
[ "$(json eval2.json 'd["sequences"]')" = "4" ] || fail "--subjects SYN001,SYN002"
# --no-quantize: the decoder reads z_e; same walks and codes, a different reconstruction.
"$A" eval-vq --model run "$data" --no-quantize --json eval3.json --quiet >table3.txt
grep -q "^decoder .*--no-quantize" table3.txt || fail "--no-quantize table: $(cat table3.txt)"
[ "$(json eval.json 'd["quantized"], d["codes"]')" = "True $(json eval3.json 'd["codes"]')" ] &&
  [ "$(json eval3.json 'd["quantized"]')" = "False" ] || fail "--no-quantize json"
json eval.json 'd["mpjpe_mm"] != '"$(json eval3.json 'd["mpjpe_mm"]')" | grep -qx True || fail "--no-quantize changes nothing"
cat table.txt

# Refusals: codes of another tokenizer, an unknown subject, files of the wrong kind, bad options.
tiny_vq "$data" "$tmp/run2" 6 1 >tiny2.ini
"$A" train tiny2.ini >/dev/null
refused "tokens.h5" decode --model run2 tokens.h5 --out x.h5
refused "has no sequence of subject 'NOBODY'" eval-vq --model run "$data" --subjects SYN001,NOBODY
refused "tokens.h5" tokenize --model run tokens.h5 --out x.h5
refused "no-such-seq" decode --model run tokens.h5 --seq no-such-seq --out x.h5
refused "needs --model" tokenize "$data" --out x.h5
refused "$tmp" eval-vq --model "$tmp" "$data"
[ ! -e x.h5 ] || fail "a refused job wrote its output"
echo "ok"
