#!/usr/bin/env bash
# `agir inspect` on a file written by the reference safetensors implementation
# (tests/fixtures/safetensors/reference.safetensors): exit 0, the metadata and every tensor listed
# with dtype, shape and byte count in file order; a missing file is one line and exit 2.
set -euo pipefail
agir=${AGIR_BIN:?AGIR_BIN is not set}
fixture=${AGIR_SOURCE_DIR:?AGIR_SOURCE_DIR is not set}/tests/fixtures/safetensors/reference.safetensors
out=$("$agir" inspect "$fixture")
fail() { echo "FAIL: $1"; printf '%s\n' "$out"; exit 1; }
grep -q "10 tensors, 106 bytes of data" <<<"$out" || fail "summary line"
grep -q "meta producer = safetensors.numpy" <<<"$out" || fail "metadata"
grep -Eq "^  f32 +F32 +\[2, 3\] +24 bytes$" <<<"$out" || fail "f32 line"
grep -Eq "^  f64 +F64 +\[\] +8 bytes$" <<<"$out" || fail "scalar line"
grep -Eq "^  empty +I32 +\[0, 3\] +0 bytes$" <<<"$out" || fail "empty tensor line"
[ "$(grep -c ' bytes$' <<<"$out")" -eq 10 ] || fail "tensor count"
set +e
err=$("$agir" inspect /nonexistent/x.safetensors 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -eq 2 ] || { echo "FAIL: missing file exit $rc: $err"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL: more than one line: $err"; exit 1; }
echo "ok: inspect lists the reference file"
