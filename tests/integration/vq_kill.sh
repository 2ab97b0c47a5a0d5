#!/usr/bin/env bash
# `agir train` survives SIGKILL at any moment: a tiny VQ-VAE run (configs/vqvae_demo.ini shrunk by
# --set, a checkpoint after every update so that many kills land inside a checkpoint write) is
# killed at random moments at least 20 times. After each kill, the next run must resume from the
# checkpoint LATEST named before it started (its "resuming from" line is compared), and the final
# weights, EMA statistics and optimizer state must be byte-identical to an uninterrupted run.
set -euo pipefail
bin=${AGIR_BIN:?AGIR_BIN must name the agir executable}
src=${AGIR_SOURCE_DIR:?AGIR_SOURCE_DIR must name the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/kill.sh"

"$bin" synth "$src/configs/synth.ini" --set synth.subjects=4 --set synth.walks_per_state=2 \
  --set synth.seconds=4 --set synth.output="$tmp/walks.h5" --set run.dir="$tmp/synth" \
  --set run.log_level=quiet

steps=3000
tiny=(--set data.path="$tmp/walks.h5" --set data.window=16 --set data.val_fraction=0.25
      --set model.width=16 --set model.depth=1 --set model.codes=16 --set model.code_dim=8
      --set optim.warmup=5 --set train.batch=8 --set train.steps=$steps --set train.log_every=50
      --set train.val_every=0 --set run.threads=1)

# The reference: one uninterrupted run (checkpoint cadence does not change the trajectory).
"$bin" train "$src/configs/vqvae_demo.ini" "${tiny[@]}" --set run.dir="$tmp/ref" \
  --set train.ckpt_every=1000 --set run.log_level=quiet

# Start-up time (reading the data, building the model) of this build, so that kills are spread
# over start-up, updates and checkpoint writes alike, whatever the build's speed.
t0=$(date +%s%N)
"$bin" train "$src/configs/vqvae_demo.ini" "${tiny[@]}" --set run.dir="$tmp/calib" --steps 1 \
  --set run.log_level=quiet
startup_ms=$((($(date +%s%N) - t0) / 1000000))

run=$tmp/run
killed=0 torn=0 checked=0 rounds=0
while [ $killed -lt 24 ]; do
  rounds=$((rounds + 1))
  if [ $rounds -gt 200 ]; then echo "vq_kill: only $killed kills in 200 rounds" >&2; exit 1; fi
  committed_checkpoint "$run"
  "$bin" train "$src/configs/vqvae_demo.ini" "${tiny[@]}" --set run.dir="$run" --set train.ckpt_every=1 \
    --set train.keep=2 2>"$tmp/log" >/dev/null &
  pid=$!
  # Between half the start-up time and 150 ms past it.
  delay_ms=$((startup_ms / 2 + RANDOM % (startup_ms / 2 + 150)))
  sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
  if kill -KILL $pid 2>/dev/null; then
    wait $pid 2>/dev/null || true
    killed=$((killed + 1))
    if ls -a "$run" 2>/dev/null | grep -q '^\.ckpt-.*\.tmp\.'; then torn=$((torn + 1)); fi
  else
    wait $pid || { echo "vq_kill: a run failed:" >&2; cat "$tmp/log" >&2; exit 1; }
  fi
  # Where the run said it resumed from must be what LATEST named when it started.
  said=$(sed -n 's/^vqvae: resuming from .*\/\(ckpt-[0-9]*\) (step [0-9]*)$/\1/p' "$tmp/log")
  if [ "$before" = none ]; then
    [ -z "$said" ] || { echo "vq_kill: fresh folder, but the run resumed from $said" >&2; exit 1; }
  elif [ -n "$said" ]; then
    [ "$said" = "$before" ] || { echo "vq_kill: LATEST was $before, the run resumed from $said" >&2; exit 1; }
    checked=$((checked + 1))
  fi
  warnings=$(grep -c "warning" "$tmp/log" || true)
  if [ "$no_latest" = 1 ]; then
    # exactly the one about the missing LATEST, if the run got that far before a kill
    [ "$warnings" -le 1 ] && ! grep "warning" "$tmp/log" | grep -qv "LATEST.*using the newest intact checkpoint" ||
      { echo "vq_kill: unexpected warning:" >&2; cat "$tmp/log" >&2; exit 1; }
  elif [ "$warnings" -gt 0 ]; then
    echo "vq_kill: unexpected warning:" >&2; cat "$tmp/log" >&2; exit 1
  fi
  [ -f "$run/LATEST" ] && [ "$(cat "$run/LATEST")" = "ckpt-$steps" ] && break
done

reached=$(cat "$run/LATEST" 2>/dev/null || echo none)
# Finish the run (without a checkpoint per update, which does not change the trajectory) and
# compare with the reference.
"$bin" train "$src/configs/vqvae_demo.ini" "${tiny[@]}" --set run.dir="$run" --set train.ckpt_every=1000 \
  --set train.keep=2 2>"$tmp/log" >/dev/null || { cat "$tmp/log" >&2; exit 1; }
[ "$(cat "$run/LATEST")" = "ckpt-$steps" ] || { echo "vq_kill: the run did not finish" >&2; exit 1; }
for f in model ema optim; do
  a=$(sha256sum < "$tmp/ref/ckpt-$steps/$f.safetensors")
  b=$(sha256sum < "$run/ckpt-$steps/$f.safetensors")
  [ "$a" = "$b" ] || { echo "vq_kill: $f.safetensors differs from the uninterrupted run" >&2; exit 1; }
done
echo "vq_kill: $killed kills ($torn inside a checkpoint write, $checked resumes checked against LATEST; killed" \
  "runs reached $reached of $steps), final weights identical to the uninterrupted run"
[ $killed -ge 20 ] || { echo "vq_kill: only $killed kills before the run ended (hint: raise steps)" >&2; exit 1; }
[ $torn -ge 3 ] || { echo "vq_kill: only $torn kills inside a checkpoint write" >&2; exit 1; }
[ $checked -ge 10 ] || { echo "vq_kill: only $checked resumes were checked" >&2; exit 1; }
