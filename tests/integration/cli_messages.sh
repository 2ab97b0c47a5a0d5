#!/usr/bin/env bash
# Messages that say what to do: `agir help COMMAND` lists every option (also those documented only
# in docs/ before), each option a usage line names is in the list, a missing option value names
# its placeholder, misplaced config keys and unknown jobs point at the right key and command, a
# missing --model is not "a folder without a checkpoint". Each refusal: exit 2, one line.
. "$(dirname "$0")/lib/common.sh"

# Every command's help lists each option its usage line names, one line each.
for cmd in $("$A" help | sed -n 's/^  \([a-z-]*\) .*/\1/p'); do
  "$A" help "$cmd" >help.txt
  grep -q "^options:$" help.txt || fail "agir help $cmd has no options list"
  for opt in $(head -1 help.txt | grep -o -- '--[a-z-]*' | sort -u); do
    grep -q "^  $opt\b" help.txt || fail "agir help $cmd: usage names $opt but the list lacks it: $(cat help.txt)"
  done
done
"$A" help describe | grep -q "^  --overwrite-text  " || fail "describe --overwrite-text not listed"
"$A" help features | grep -q "^  --skip-invalid  " || fail "features --skip-invalid not listed"
"$A" help eval-vq | grep -q "^  --no-quantize  " || fail "eval-vq --no-quantize not listed"
"$A" tokenize --help | grep -q "^  --force  " || fail "tokenize --force not listed"
echo "ok: help lists the options"

refused "needs a value (hint: --out TOKENS.h5" tokenize --model run d.h5 --out
refused "needs a value (hint: --out TOKENS.h5" tokenize --model run d.h5 --out --force
refused "did you mean --set train.steps=200?" train "$SRC/configs/vqvae_demo.ini" --set optim.steps=200
printf '[run]\njob = banana\n' >banana.ini
refused "'agir synth' runs job = synth" synth banana.ini
refused "'agir train' runs job = vqvae" train banana.ini
refused "is run by 'agir train', not 'agir synth' (hint: agir train" synth "$SRC/configs/vqvae_demo.ini"
refused "is run by 'agir synth', not 'agir train' (hint: agir synth" train "$SRC/configs/synth.ini"
"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=2 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set synth.output=d.h5 --set run.dir=synth --set run.log_level=quiet
refused "missing: does not exist" tokenize --model missing d.h5 --out t.h5
refused "is a file, not a tokenizer folder" tokenize --model d.h5 d.h5 --out t.h5
mkdir empty
refused "empty: holds no checkpoint" tokenize --model empty d.h5 --out t.h5
refused "does not apply here" import c3d x.c3d --meta m.csv
echo "PASS"
