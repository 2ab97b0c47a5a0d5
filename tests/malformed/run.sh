#!/usr/bin/env bash
# Malformed-file suite: for every case file in DIR (all files but COMMAND and *.md), runs
# `agir <COMMAND with {} replaced by the file>` and requires exit code 2, exactly one line on
# stderr, and that line naming the file. COMMAND may hold several words, e.g. "config --explain {}".
set -u
agir=$1
dir=$2
cmd=$(head -n1 "$dir/COMMAND")
fail=0
n=0
for f in "$dir"/*; do
  base=$(basename "$f")
  case "$base" in COMMAND|*.md) continue ;; esac
  n=$((n + 1))
  args=${cmd//\{\}/$f}
  # shellcheck disable=SC2086
  err=$("$agir" $args 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s' "$err" | grep -c '')
  if [ "$rc" -ne 2 ]; then
    echo "FAIL $base: exit $rc, expected 2: $err"
    fail=$((fail + 1))
  elif [ "$lines" -ne 1 ]; then
    echo "FAIL $base: $lines lines on stderr, expected 1:"
    printf '%s\n' "$err"
    fail=$((fail + 1))
  elif ! printf '%s' "$err" | grep -qF "$base"; then
    echo "FAIL $base: message does not name the file: $err"
    fail=$((fail + 1))
  else
    echo "ok   $base: $err"
  fi
done
echo "$((n - fail)) passed, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
