#!/usr/bin/env bash
# `agir tokenizer`: encode then decode gives the text back (byte-level, JSON and GGUF routes agree),
# the motion extension's ids follow the vocabulary, and a bad --decode id is an input error.
set -euo pipefail
fix=$AGIR_SOURCE_DIR/tests/fixtures/tokenizer
text=$'Foot: shuffling 12 steps  \n<|im_start|>caf\u00e9 \U0001F6B6'
ids=$("$AGIR_BIN" tokenizer "$fix/smollm.json" --encode "$text")
ids_gguf=$("$AGIR_BIN" tokenizer "$fix/smollm.gguf" --encode "$text")
[ "$ids" = "$ids_gguf" ] || { echo "json ids '$ids' != gguf ids '$ids_gguf'"; exit 1; }
back=$("$AGIR_BIN" tokenizer "$fix/smollm.json" --decode "$ids")
[ "$back" = "$text" ] || { echo "round trip: '$back' != '$text'"; exit 1; }
n=$("$AGIR_BIN" tokenizer "$fix/smollm.json" | sed -E 's/.* ([0-9]+) tokens.*/\1/')
out=$("$AGIR_BIN" tokenizer "$fix/smollm.json" --motion 8 --encode "<som><motion_id_7><eom>" 2>/dev/null)
[ "$out" = "$((n + 8)) $((n + 7)) $((n + 9))" ] || { echo "motion ids '$out' for vocabulary $n"; exit 1; }
set +e
err=$("$AGIR_BIN" tokenizer "$fix/smollm.json" --decode "1 999999" 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "bad id: exit $rc: $err"; exit 1; }
echo "ok: $ids"
