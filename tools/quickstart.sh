#!/usr/bin/env bash
# The main job, end to end on this machine: install and build, generate the synthetic Parkinsonian
# gait dataset, validate and summarise it, measure gait features, write descriptions and
# rationales, and draw pictures. Everything lands in runs/quickstart/; a re-run replaces it
# (--force: without it agir refuses to overwrite an existing output).
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/quickstart
mkdir -p "$out"

tools/setup.sh
agir=build/agir

$agir synth configs/synth.ini --set run.dir="$out" --set synth.output="$out/synth.h5" --force
$agir info "$out/synth.h5"
$agir features "$out/synth.h5" --out "$out" --force
$agir describe "$out/synth.h5" --out "$out/synth_text.h5" --force
$agir describe "$out/synth_text.h5" --print 2
$agir plot features "$out/synth.h5" --out "$out/features_by_score.png" --force
# Synthetic ids are SYN<subject>_<off|on>_walk_<n>: the first OFF-medication walk of subject 1.
$agir plot skeleton "$out/synth.h5" --seq SYN001_off_walk_1 --out "$out/skeleton.png" --force
echo "quickstart: outputs in $out/"
ls -1 "$out"
