#!/usr/bin/env bash
# `agir train` on an SFT config survives SIGKILL at any moment: a tiny fine-tuning run (the tiny
# random Llama of tests/tools/tiny_llm.h, a checkpoint after every update, LoRA dropout on) is
# killed at least 20 times, every other kill aimed inside a checkpoint write (kill_in_save fires as
# soon as the checkpoint's temporary folder appears), the others at random moments once the run is
# past its start-up. After each kill
# the next run must resume from the checkpoint LATEST named before it started; the final adapter and
# optimizer state must be byte-identical to an uninterrupted run.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/sft_tiny.sh"
. "$(dirname "$0")/lib/kill.sh"
KILL=${AGIR_KILL_IN_SAVE:?AGIR_KILL_IN_SAVE must point at kill_in_save}
cfg=$SRC/configs/sft_stage1.ini
steps=80
job=("${SFT_SETS[@]}" --set train.steps=$steps --set lora.dropout=0.1 --set run.log_level=quiet)

# The reference: one uninterrupted run (checkpoint cadence does not change the trajectory).
"$A" train "$cfg" "${job[@]}" --set run.dir=ref --set train.ckpt_every=1000

# Start-up time of this build (data, examples, model), to spread the random kills.
t0=$(date +%s%N)
"$A" train "$cfg" "${job[@]}" --set run.dir=calib --steps 1
startup_ms=$((($(date +%s%N) - t0) / 1000000))

run=run
killed=0 torn=0 aimed=0 checked=0 rounds=0
while [ $killed -lt 24 ]; do
  rounds=$((rounds + 1))
  [ $rounds -le 300 ] || fail "sft_kill: only $killed kills in 300 rounds"
  committed_checkpoint "$run"
  "$A" train "$cfg" "${job[@]}" --set run.dir=$run --set train.ckpt_every=1 --set train.keep=2 --set \
    run.log_level=info 2>log >/dev/null &
  pid=$!
  if [ $((rounds % 2)) -eq 0 ]; then
    mode=$("$KILL" $pid $run $((startup_ms * 3 + 500)))
  else
    # Past its start-up (the run has said where it starts from; under load that can take much longer
    # than the calibration), then a random moment within about two updates.
    for _ in $(seq 1 3000); do
      grep -q '^sft: \(resuming from\|starting a new run\)' log 2>/dev/null && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.01
    done
    delay_ms=$((RANDOM % (startup_ms + 100)))
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    kill -KILL $pid 2>/dev/null && mode=random || mode=none
  fi
  if wait $pid 2>/dev/null; then
    :  # the run ended before the kill
  else
    rc=$?
    [ $rc -eq 137 ] || { cat log >&2; fail "sft_kill: a run failed with exit code $rc"; }
    killed=$((killed + 1))
    [ "$mode" = save ] && aimed=$((aimed + 1))
    if ls -a $run 2>/dev/null | grep -q '^\.ckpt-.*\.tmp\.'; then torn=$((torn + 1)); fi
  fi
  said=$(sed -n 's/^sft: resuming from .*\/\(ckpt-[0-9]*\) (step [0-9]*)$/\1/p' log)
  if [ "$before" = none ]; then
    [ -z "$said" ] || fail "sft_kill: fresh folder, but the run resumed from $said"
  elif [ -n "$said" ]; then
    [ "$said" = "$before" ] || fail "sft_kill: LATEST was $before, the run resumed from $said"
    checked=$((checked + 1))
  fi
  # Warnings other than the tokenizer's note on the split, and the one about a missing LATEST
  # after a kill between the first rename and the first LATEST, are failures.
  other=$(grep "warning" log | grep -v "motion tokenizer's training data" | grep -v "LATEST.*using the newest intact checkpoint" || true)
  [ -z "$other" ] || { cat log >&2; fail "sft_kill: unexpected warning: $other"; }
  if grep -q "LATEST.*using the newest intact" log; then [ "$no_latest" = 1 ] || fail "sft_kill: LATEST fallback without cause"; fi
  [ -f "$run/LATEST" ] && [ "$(cat "$run/LATEST")" = "ckpt-$steps" ] && break
done
reached=$(cat "$run/LATEST" 2>/dev/null || echo none)
"$A" train "$cfg" "${job[@]}" --set run.dir=$run --set train.ckpt_every=1000 --set train.keep=2 2>log >/dev/null ||
  { cat log >&2; fail "sft_kill: the last run failed"; }
[ "$(cat "$run/LATEST")" = "ckpt-$steps" ] || fail "sft_kill: the run did not finish"
for f in adapter optim; do
  a=$(sha256sum < "ref/ckpt-$steps/$f.safetensors")
  b=$(sha256sum < "$run/ckpt-$steps/$f.safetensors")
  [ "$a" = "$b" ] || fail "sft_kill: $f.safetensors differs from the uninterrupted run"
done
echo "sft_kill: $killed kills ($aimed aimed inside a checkpoint write, $torn left a checkpoint half-written;" \
  "$checked resumes checked against LATEST; killed runs reached $reached of $steps), final adapter and optimizer" \
  "state identical to the uninterrupted run"
[ $killed -ge 20 ] || fail "sft_kill: only $killed kills before the run ended (hint: raise steps)"
[ $((2 * aimed)) -ge $((killed - 2)) ] || fail "sft_kill: only $aimed of $killed kills aimed inside a write"
# An aimed kill can still come just after the folder's rename: most, not all, leave it half-written.
[ $((4 * torn)) -ge $((3 * aimed)) ] || fail "sft_kill: only $torn kills landed inside a checkpoint write ($aimed aimed)"
[ $checked -ge 10 ] || fail "sft_kill: only $checked resumes were checked"
