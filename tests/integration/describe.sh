#!/usr/bin/env bash
# `agir describe`: a description and a scored rationale for every walk of a small synthetic
# dataset, the same for the same seed, kept unless --overwrite-text; bad arguments exit 2 with
# one line.
set -euo pipefail
agir=${AGIR_BIN:?AGIR_BIN not set}
src=${AGIR_SOURCE_DIR:?AGIR_SOURCE_DIR not set}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$agir" synth "$src/configs/synth.ini" --set synth.subjects=2 --set synth.walks_per_state=2 \
  --set synth.seconds=6 --set synth.output=d.h5 --set run.dir=run --set run.threads=2 \
  --set run.log_level=quiet >/dev/null 2>&1
walks=8

"$agir" describe d.h5 --print 100 --seed 3 --quiet >a.txt
"$agir" describe d.h5 --print 100 --seed 3 --quiet >b.txt
cmp a.txt b.txt
"$agir" describe d.h5 --print 100 --seed 4 --quiet >c.txt
if cmp -s a.txt c.txt; then echo "describe: seeds 3 and 4 gave the same texts"; exit 1; fi
[ "$(grep -c '^  description: Foot: .* Arm: ' a.txt)" -eq $walks ] || { echo "describe: descriptions missing"; cat a.txt; exit 1; }
[ "$(grep -c '^  rationale:   Foot: .* Arm: .* Overall: ' a.txt)" -eq $walks ] || { echo "describe: rationales missing"; exit 1; }
[ "$(grep -c '^ *Score: [0-4]$' a.txt)" -eq $walks ] || { echo "describe: score lines missing"; exit 1; }

# Saved texts are kept by a later run, whatever its seed, unless --overwrite-text.
"$agir" describe d.h5 --out o.h5 --seed 3 --quiet
"$agir" describe o.h5 --print 100 --seed 9 --quiet >kept.txt
cmp a.txt kept.txt
"$agir" describe o.h5 --print 100 --seed 9 --overwrite-text --quiet >over.txt
if cmp -s a.txt over.txt; then echo "describe: --overwrite-text kept the old texts"; exit 1; fi

for args in "d.h5" "d.h5 --print x" "d.h5 --out o2.h5 --seed -1" "missing.h5 --out x.h5" "d.h5 --out ''"; do
  set +e
  eval "\"$agir\" describe $args" >/dev/null 2>err.txt
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || { echo "describe $args: exit $rc, want 2"; cat err.txt; exit 1; }
  [ "$(wc -l <err.txt)" -eq 1 ] || { echo "describe $args: stderr is not one line"; cat err.txt; exit 1; }
done
echo "describe: ok"
