#!/usr/bin/env bash
# The gait store and h5py, both directions:
#  1. test_gait_store writes its reference dataset (AGIR_H5PY_OUT); h5py reads it and checks
#     shapes, dtypes and values against the reference's description (test_gait_store.c, ref_*),
#     then runs the h5py example of docs/dataset_format.md on it;
#  2. h5py writes a dataset the way the docs describe; `agir info --json` must accept and count it.
set -euo pipefail
py=/usr/bin/python3
if ! "$py" -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIPPED: h5py is not importable by $py (Debian: python3-h5py)"
  exit 77
fi
writer=./test_gait_store
[ -x "$writer" ] || { echo "FAIL: $writer not built (run from the build's tests folder)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

AGIR_H5PY_OUT="$tmp/ref.h5" "$writer"

"$py" - "$tmp/ref.h5" <<'EOF'
import sys
import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
assert f.attrs["format"] == b"agir-gait", f.attrs["format"]
assert f.attrs["version"] == 1 and f.attrs["skeleton"] == b"h36m17"
lens = [10, 7, 5]
ids = ["SUB01_on_walk_1", "SUB01_off_walk_1", "SUB02_off_walk_1"]
fr = f["frames"]
assert fr.shape == (22, 17, 3) and fr.dtype == np.float32, (fr.shape, fr.dtype)
assert fr.compression == "gzip" and fr.shuffle, (fr.compression, fr.shuffle)
assert list(f["sequences/id"].asstr()[:]) == ids
assert list(f["sequences/subject"].asstr()[:]) == ["SUB01", "SUB01", "SUB02"]
assert list(f["sequences/source"].asstr()[:]) == ["synth"] * 3
assert f["sequences/description"].asstr()[0] == "Schrittlänge kurz, Armschwung ↓ — “slow”"
assert list(f["sequences/description"].asstr()[1:]) == ["", ""]
assert list(f["sequences/rationale"].asstr()[:]) == [
    "Foot: short steps. Arm: reduced swing. Overall: mild.", "Foot: ok.", ""]
for name, dtype, want in [("offset", np.int64, [0, 10, 17]), ("length", np.int64, lens),
                          ("medication", np.int8, [1, 0, -1]), ("updrs_gait", np.int8, [1, 2, -1]),
                          ("fps", np.float32, [20, 150, 30])]:
    d = f["sequences/" + name]
    assert d.dtype == dtype and list(d[:]) == want, (name, d.dtype, d[:])
joints = list(f["skeleton/joint_names"].asstr()[:])
assert len(joints) == 17 and joints[0] == "pelvis" and joints[16] == "r_wrist"
assert list(f["skeleton/parents"][:])[:4] == [-1, 0, 1, 2]
off = 0
for s, n in enumerate(lens):
    fi, j, k = np.meshgrid(np.arange(n), np.arange(17), np.arange(3), indexing="ij")
    want = (s + 0.01 * fi + 0.1 * j + 0.001 * k).astype(np.float32)
    got = fr[off:off + n]
    assert np.abs(got - want).max() < 1e-6, (s, np.abs(got - want).max())
    off += n
assert list(f["ground_truth/names"].asstr()[:]) == ["cadence", "speed"]
gt = f["ground_truth/values"][:]
assert gt.shape == (3, 2) and list(gt[:, 0]) == [100, 101, 102]
assert gt[0, 1] == 1.0 and np.isnan(gt[1, 1]) and gt[2, 1] == 2.0
print("h5py reads the agir file: ok")
EOF

# The docs' example, verbatim, on the same file.
sed -n '/^```python$/,/^```$/p' "$AGIR_SOURCE_DIR/docs/dataset_format.md" | sed '1d;$d' >"$tmp/example.py"
[ -s "$tmp/example.py" ] || { echo "FAIL: no python example in docs/dataset_format.md"; exit 1; }
(cd "$tmp" && cp ref.h5 data.h5 && "$py" example.py)

"$py" - "$tmp/py.h5" <<'EOF'
import sys
import h5py
import numpy as np

joints = ["pelvis", "r_hip", "r_knee", "r_foot", "l_hip", "l_knee", "l_foot", "spine", "thorax",
          "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"]
parents = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
text = h5py.string_dtype()
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["format"] = np.bytes_("agir-gait")
    f.attrs["version"] = 1
    f.attrs["skeleton"] = np.bytes_("h36m17")
    f["skeleton/joint_names"] = np.array(joints, dtype=text)
    f["skeleton/parents"] = np.array(parents, np.int32)
    f.create_dataset("frames", data=np.ones((30, 17, 3), np.float32), chunks=(8, 17, 3), compression="gzip")
    f["sequences/id"] = np.array(["a", "b", "c"], dtype=text)
    f["sequences/subject"] = np.array(["P1", "P2", "P2"], dtype=text)
    f["sequences/source"] = np.array(["h5py"] * 3, dtype=text)
    f["sequences/description"] = np.array(["", "Walking is slow.", ""], dtype=text)
    f["sequences/rationale"] = np.array(["", "", "Foot: fine."], dtype=text)
    f["sequences/offset"] = np.array([0, 10, 20], np.int64)
    f["sequences/length"] = np.array([10, 10, 10], np.int64)
    f["sequences/medication"] = np.array([0, 1, -1], np.int8)
    f["sequences/updrs_gait"] = np.array([3, 0, 0], np.int8)
    f["sequences/fps"] = np.array([20, 20, 50], np.float32)
EOF
"$AGIR_BIN" info --json "$tmp/py.h5" >"$tmp/info.json"
"$py" - "$tmp/info.json" <<'EOF'
import json
import sys

m = json.load(open(sys.argv[1]))
assert m["sequences"] == 3 and m["frames"] == 30 and m["joints"] == 17, m
assert m["subjects"] == {"P1": 1, "P2": 2}, m["subjects"]
assert m["updrs_gait"]["3"] == 1 and m["updrs_gait"]["0"] == 2, m["updrs_gait"]
assert m["medication"] == {"unknown": 1, "off": 1, "on": 1}, m["medication"]
assert m["fps"] == {"20": 2, "50": 1}, m["fps"]
assert m["with_description"] == 1 and m["with_rationale"] == 1, m
assert abs(m["seconds"] - (10 / 20 + 10 / 20 + 10 / 50)) < 1e-9, m["seconds"]
print("agir reads the h5py file: ok")
EOF
