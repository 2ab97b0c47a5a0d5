#!/usr/bin/env bash
# The SFT commands end to end on the tiny set-up: show-mask and sft-data (chat "messages" JSONL),
# a short two-stage training whose checkpoint adapter `agir generate` reads, split.json, and the
# one-line refusals: another job's config, codes from another tokenizer, stores that do not match,
# a missing stage-1 run, an existing output.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/sft_tiny.sh"
s1=$SRC/configs/sft_stage1.ini
s2=$SRC/configs/sft_stage2.ini

# show-mask: one example per task with its trained tokens marked, and the fractions.
"$A" show-mask "$s1" "${SFT_SETS[@]}" > mask.txt 2>/dev/null
grep -q '^--- m2t example: walk ' mask.txt || fail "show-mask printed no m2t example"
grep -q '^--- t2m example: walk ' mask.txt || fail "show-mask printed no t2m example"
grep -qF '[[<som><motion_id_' mask.txt || fail "show-mask: the t2m answer is not marked as trained"
grep -qE '^training +m2t +10 ' mask.txt || fail "show-mask: no m2t fraction over 10 training examples"
grep -qE '^held-out +t2m +2 ' mask.txt || fail "show-mask: no t2m fraction over 2 held-out examples"
"$A" show-mask "$s1" "${SFT_SETS[@]}" --n 0 --held-out 2>/dev/null | grep -q '^--- trained-token fractions' ||
  fail "show-mask --n 0 printed no fractions"
refused "reads SFT configs" show-mask "$SRC/configs/vqvae_demo.ini"

# sft-data: TRL's "messages" format, one conversation per line, the assistant's turn last.
"$A" sft-data "$s1" "${SFT_SETS[@]}" --out train.jsonl 2>/dev/null
[ "$(wc -l < train.jsonl)" -eq 20 ] || fail "sft-data: $(wc -l < train.jsonl) lines, expected 20"
# Each line is parsed as JSON (python3: tools/setup.sh installs it with python3-h5py).
python3 - train.jsonl <<'PY' || fail "sft-data: a line is not a chat example"
import json, sys
for line in open(sys.argv[1]):
    ex = json.loads(line)
    roles = [m["role"] for m in ex["messages"]]
    assert roles == ["user", "assistant"], roles
    assert ex["task"] in ("m2t", "t2m")
    if ex["task"] == "t2m":
        assert ex["messages"][1]["content"].startswith("<som><motion_id_")
        assert ex["messages"][1]["content"].endswith("<eom>")
PY
"$A" sft-data "$s1" "${SFT_SETS[@]}" --held-out --out test.jsonl 2>/dev/null
[ "$(wc -l < test.jsonl)" -eq 4 ] || fail "sft-data --held-out: $(wc -l < test.jsonl) lines, expected 4"
refused "exists" sft-data "$s1" "${SFT_SETS[@]}" --out train.jsonl

# Two short stages; stage 2 starts from stage 1.
"$A" train "$s1" "${SFT_SETS[@]}" --set run.dir=st1 --set train.steps=4 2> st1.log
grep -q '^sft: step 4 of 4; held-out loss m2t .* (step 0: .*), t2m .* checkpoints in st1$' st1.log ||
  { cat st1.log; fail "stage 1: no summary line"; }
grep -qE '"test":[[:space:]]*\["SYN002"\]' st1/split.json || fail "split.json lacks the held-out subject"
grep -q '"test_seen"' st1/split.json || fail "split.json lacks the tokenizer's record"
"$A" train "$s2" "${SFT_SETS[@]}" --set run.dir=st2 --set model.init=st1 --set train.steps=3 2> st2.log
grep -q 'sft: starting from the adapter of st1/ckpt-4' st2.log || { cat st2.log; fail "stage 2 did not start from stage 1"; }
grep -q '^sft: step 3 of 3; held-out loss rationale ' st2.log || { cat st2.log; fail "stage 2: no summary line"; }
"$A" generate --model tiny --adapter st2/ckpt-3/adapter.safetensors --max-tokens 4 "Walk:" > /dev/null ||
  fail "generate could not use the checkpoint's adapter"

# Refusals, each one line with exit code 2.
q=(--set run.log_level=quiet)
refused "not llama-lora" train "$s2" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st3 --set model.init=vq
refused "holds no checkpoint of an SFT run" train "$s2" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st3 --set model.init=synth
refused "held out" train "$s1" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st4 --set split.test=SYN001,SYN002,SYN003,SYN004,SYN005,SYN006
"$A" train "$SRC/configs/vqvae_demo.ini" --set data.path=walks.h5 --set data.window=16 --set model.width=16 \
  --set model.depth=1 --set model.codes=16 --set model.code_dim=8 --set train.batch=8 --set train.steps=4 \
  --set optim.warmup=2 --set train.val_every=0 --set run.seed=99 --set run.dir=vq2 --set run.log_level=quiet --set run.threads=1
refused "tokens.h5" train "$s1" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st5 --set data.tokenizer=vq2
"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=3 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set synth.output=few.h5 --set run.dir=synth2 --set run.log_level=quiet
"$A" describe few.h5 --out few_texts.h5 --quiet
refused "few_texts.h5" train "$s1" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st6 --set data.texts=few_texts.h5
refused "batch_tokens" train "$s1" "${SFT_SETS[@]}" "${q[@]}" --set run.dir=st7 --set train.batch_tokens=1000
[ ! -e st3 ] && [ ! -e st5 ] && [ ! -e st6 ] && [ ! -e st7 ] || fail "a refused run wrote its run folder"
echo "sft_cli: all checks passed"
