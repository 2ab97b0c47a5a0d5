#!/usr/bin/env bash
# Interrupted jobs leave no debris and say what happened:
#   - `agir synth` stopped by SIGINT while it writes (or before) leaves no temporary file and no
#     output; one killed by SIGKILL leaves its temporary, which the next write to the same place
#     removes;
#   - `agir train` stopped by SIGINT saves a checkpoint, exits 130 with one line saying where it
#     stopped and how to resume, and the same command resumes from there;
#   - a refused start writes nothing: no new run folder, an existing folder's config.ini unchanged;
#   - a run without a checkpoint says it starts a new run; with output piped, progress lines come
#     at the interval AGIR_PROGRESS_SECONDS sets.
. "$(dirname "$0")/lib/common.sh"
set -m  # background jobs get SIGINT as in a terminal (otherwise a script's background jobs ignore it)
temps() { find . -name '.*.tmp.*' | sort; }

# wait_for PATTERN PID: until a file matching PATTERN exists (true) or PID has ended (false).
wait_for() {
  local i
  for i in $(seq 1 3000); do
    compgen -G "$1" >/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.01
  done
  return 1
}

big=(--set synth.subjects=60 --set synth.walks_per_state=4 --set synth.seconds=30 --set run.dir=synth
     --set run.log_level=quiet)

# SIGINT while writing: caught between the temporary's creation and the rename.
caught=0
for attempt in 1 2 3 4 5; do
  "$A" synth "$SRC/configs/synth.ini" "${big[@]}" --set synth.output=big.h5 --force 2>err.txt &
  pid=$!
  if wait_for '.big.h5.tmp.*' $pid; then
    kill -INT $pid
    set +e
    wait $pid
    rc=$?
    set -e
    if [ "$rc" -eq 130 ]; then
      caught=1
      [ -z "$(temps)" ] || fail "SIGINT left temporary files: $(temps)"
      [ ! -e big.h5 ] || fail "SIGINT during the write left big.h5"
      grep -q "interrupted; temporary files removed" err.txt || fail "no word about the interruption: $(cat err.txt)"
      break
    fi
  else
    wait $pid || true
  fi
  rm -f big.h5
done
[ $caught = 1 ] || fail "could not interrupt synth while it wrote in 5 attempts"
echo "ok: SIGINT during the write: exit 130, no temporary file, no output"

# SIGINT before the write.
"$A" synth "$SRC/configs/synth.ini" "${big[@]}" --set synth.output=early.h5 2>/dev/null &
pid=$!
sleep 0.2
kill -INT $pid 2>/dev/null || true
wait $pid || true
[ -z "$(temps)" ] && [ ! -e early.h5 ] || fail "SIGINT before the write left files: $(temps) $(ls)"
echo "ok: SIGINT before the write"

# SIGKILL while writing leaves the temporary; the next write of the same file removes it.
killed=0
for attempt in 1 2 3 4 5; do
  "$A" synth "$SRC/configs/synth.ini" "${big[@]}" --set synth.output=k.h5 --force 2>/dev/null &
  pid=$!
  if wait_for '.k.h5.tmp.*' $pid; then
    kill -KILL $pid
    wait $pid || true
    [ -n "$(temps)" ] && { killed=1; break; }
  else
    wait $pid || true
  fi
  rm -f k.h5
done
[ $killed = 1 ] || fail "could not kill synth while it wrote in 5 attempts"
stale=$(temps)
"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=2 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set run.dir=synth --set run.log_level=quiet --set synth.output=k.h5 --force
[ -z "$(temps)" ] || fail "the next write left $(temps) (stale: $stale)"
echo "ok: a killed write's temporary $stale removed by the next write"

# Training.
"$A" synth "$SRC/configs/synth.ini" --set synth.subjects=4 --set synth.walks_per_state=1 --set synth.seconds=4 \
  --set synth.output=d.h5 --set run.dir=synth --set run.log_level=quiet
tiny=(--set data.path="$tmp/d.h5" --set data.window=16 --set data.val_fraction=0.25 --set model.width=16
      --set model.depth=1 --set model.codes=16 --set model.code_dim=8 --set optim.warmup=5 --set train.batch=8
      --set train.val_every=0 --set run.threads=1)
cfg=$SRC/configs/vqvae_demo.ini

# A refused start into a new folder leaves nothing; into an existing one, its config.ini as it was.
set +e
"$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/new" --resume 2>err.txt
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "holds no checkpoint to resume from" err.txt || fail "--resume in a new folder: $rc $(cat err.txt)"
[ ! -e new ] || fail "a refused start created $(find new)"
"$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/r" --steps 2 --set train.steps=100000 2>log.txt
grep -q "starting a new run in $tmp/r" log.txt || fail "no 'starting a new run': $(cat log.txt)"
cp r/config.ini config.before
set +e
"$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/r" --set model.width=24 --set train.steps=100000 2>err.txt
rc=$?
set -e
[ $rc -eq 2 ] || fail "a changed model.width was not refused: $rc $(cat err.txt)"
cmp -s r/config.ini config.before || fail "a refused start rewrote r/config.ini"
echo "ok: refused starts write nothing"

# Killed before its first checkpoint: the next run says it starts anew.
rm -rf r2
mkdir r2 && echo '{"event":"start","step":0}' >r2/metrics.jsonl
"$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/r2" --steps 1 2>log.txt
grep -q "starting a new run in $tmp/r2 (it holds no checkpoint: an earlier run there stopped before its first one)" \
  log.txt || fail "no word about the earlier run: $(cat log.txt)"
echo "ok: starting a new run is said"

# SIGINT: a checkpoint, one line, exit 130; the same command resumes from it.
AGIR_PROGRESS_SECONDS=0.2 "$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/r3" --set train.steps=100000 \
  --set train.log_every=100000 --set train.ckpt_every=100000 2>log.txt &
pid=$!
for i in $(seq 1 1000); do grep -q "^train: [0-9]*/100000 " log.txt && break; sleep 0.02; done
kill -INT $pid
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 130 ] || fail "interrupted training exited $rc: $(cat log.txt)"
line=$(grep "^agir: " log.txt)
step=$(sed -n 's/^agir: .*: interrupted at step \([0-9]*\) of 100000; checkpoint ckpt-\1 saved (hint: run the same command again to resume)$/\1/p' log.txt)
[ -n "$step" ] && [ "$step" -gt 0 ] || fail "interruption line: $line"
[ "$(cat r3/LATEST)" = "ckpt-$step" ] || fail "LATEST is $(cat r3/LATEST), not ckpt-$step"
grep -q "^train: [0-9]*/100000 ([0-9.]*%), .*/s, .* elapsed, ETA " log.txt || fail "no progress lines: $(cat log.txt)"
"$A" train "$cfg" "${tiny[@]}" --set run.dir="$tmp/r3" --set train.steps=100000 --set train.log_every=100000 \
  --set train.ckpt_every=100000 --steps 1 2>log2.txt
grep -q "resuming from $tmp/r3/ckpt-$step (step $step)" log2.txt || fail "did not resume from ckpt-$step: $(cat log2.txt)"
[ -z "$(temps)" ] || fail "training left temporary files: $(temps)"
echo "ok: SIGINT stops training with a checkpoint at step $step: $line"
echo "PASS"
