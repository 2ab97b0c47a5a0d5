#!/usr/bin/env bash
# No command destroys the user's data. For every command that writes a file (synth, tokenize,
# decode, eval-vq --json, features --csv/--jsonl, describe, plot skeleton/features, import bmclab,
# import annotations):
#   - an output that is one of its inputs is refused, also through a symbolic link and ./, also
#     with --force, with exit 2 and one line; the input is byte-identical afterwards;
#   - an existing output is refused without --force (the message says --force) and left as it
#     was; with --force it is replaced;
#   - a folder or an unwritable place as output is refused before any work.
. "$(dirname "$0")/lib/common.sh"

# unchanged FILE: byte-identical to the copy saved by keep FILE.
keep() { cp "$1" "$1.orig"; }
unchanged() { cmp -s "$1" "$1.orig" || fail "$1 changed"; }

same="is the same file as the input"
exists="already exists (hint: pass --force"

"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=3 --set synth.walks_per_state=1 \
  --set synth.seconds=4 --set synth.output=d.h5 --set run.dir=synth --set run.log_level=quiet
ln -s d.h5 link.h5
keep d.h5

# synth: its input is the config; an existing dataset is not replaced without --force.
cp "$SRC/configs/synth.ini" my.ini
keep my.ini
refused "$same" synth my.ini --set synth.output=./my.ini --force
unchanged my.ini
refused "$exists" synth my.ini --set synth.output=d.h5 --set run.dir=synth
unchanged d.h5
refused "is a folder" synth my.ini --set synth.output=synth --set run.dir=synth --force
"$A" synth my.ini --set synth.subjects=3 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set synth.output=d2.h5 --set run.dir=synth --set run.log_level=quiet
cp d2.h5 d2.before
"$A" synth my.ini --set synth.subjects=2 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set synth.output=d2.h5 --set run.dir=synth --set run.log_level=quiet --force
cmp -s d2.h5 d2.before && fail "synth --force did not replace d2.h5"

# A tiny tokenizer for tokenize, decode and eval-vq.
tiny_vq "$tmp/d.h5" "$tmp/run" 1 2 >tiny.ini
"$A" train tiny.ini >/dev/null

# tokenize
refused "$same" tokenize --model run d.h5 --out d.h5
refused "$same" tokenize --model run d.h5 --out link.h5 --force
refused "$same" tokenize --model run link.h5 --out ./d.h5
unchanged d.h5
"$A" tokenize --model run d.h5 --out t.h5 --quiet
keep t.h5
refused "$exists" tokenize --model run d.h5 --out t.h5
unchanged t.h5
"$A" tokenize --model run d.h5 --out t.h5 --quiet --force

# decode
ln -s t.h5 tlink.h5
refused "$same" decode --model run t.h5 --out t.h5
refused "$same" decode --model run t.h5 --out tlink.h5 --force
unchanged t.h5
"$A" decode --model run t.h5 --out j.h5 --quiet
keep j.h5
refused "$exists" decode --model run t.h5 --out j.h5
unchanged j.h5

# eval-vq --json
refused "$same" eval-vq --model run d.h5 --json ./d.h5 --force
unchanged d.h5
refused "cannot create a file in folder" eval-vq --model run d.h5 --json "$tmp/no/such/folder/e.json"
echo '{}' >e.json
keep e.json
refused "$exists" eval-vq --model run d.h5 --json e.json
unchanged e.json
"$A" eval-vq --model run d.h5 --json e.json --quiet --force >/dev/null
grep -q mpjpe_mm e.json || fail "eval-vq --force did not write e.json"

# features
refused "$same" features d.h5 --csv d.h5
refused "$same" features d.h5 --jsonl link.h5 --force
refused "the same file" features d.h5 --csv f.csv --jsonl ./f.csv
unchanged d.h5
"$A" features d.h5 --csv f.csv --jsonl f.jsonl --quiet >/dev/null
keep f.csv
refused "$exists" features d.h5 --csv f.csv --jsonl f2.jsonl
unchanged f.csv
[ ! -e f2.jsonl ] || fail "a refused features run wrote f2.jsonl"
"$A" features d.h5 --csv f.csv --jsonl f.jsonl --quiet --force >/dev/null

# describe
refused "$same" describe d.h5 --out d.h5
refused "$same" describe link.h5 --out d.h5 --force
unchanged d.h5
"$A" describe d.h5 --out text.h5 --quiet
keep text.h5
refused "$exists" describe d.h5 --out text.h5
unchanged text.h5

# plot
id=SYN001_off_walk_1
refused "$same" plot features d.h5 --out d.h5
refused "$same" plot skeleton d.h5 --seq $id --out link.h5 --force
unchanged d.h5
"$A" plot features d.h5 --out p.png >/dev/null
keep p.png
refused "$exists" plot features d.h5 --out p.png
unchanged p.png
"$A" plot features d.h5 --out p.png --force >/dev/null

# import: the outputs are checked before any input is read.
mkdir root
echo 'not read' >meta.csv
keep meta.csv
refused "$same" import bmclab root --meta meta.csv --out meta.csv --force
unchanged meta.csv
refused "$exists" import bmclab root --meta meta.csv --out d.h5
unchanged d.h5
echo '{}' >ann.json
keep ann.json
refused "$same" import annotations ann.json d.h5 --out ./d.h5 --force
refused "$same" import annotations ann.json d.h5 --out ann.json --force
refused "$exists" import annotations ann.json d.h5 --out text.h5
unchanged d.h5
unchanged ann.json
unchanged text.h5

# No temporary file left anywhere by the refusals and checks.
left=$(find . -name '.*.tmp.*' | head -1)
[ -z "$left" ] || fail "temporary file left: $left"
echo "PASS"
