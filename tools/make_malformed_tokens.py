#!/usr/bin/python3
"""Writes the malformed token stores of tests/malformed/tokens/ (each must make `agir info` exit 2).

    /usr/bin/python3 tools/make_malformed_tokens.py [OUT_DIR]   (default: tests/malformed/tokens)

Needs h5py (Debian: python3-h5py). Each case starts from a tiny valid token store (3 sequences,
9 codes, layout in docs/dataset_format.md, "Token store") and breaks one rule; string attributes
are numpy.bytes_ (fixed-length), so every case reaches the token reader's own checks. After
rerunning, check with `ctest -R malformed_tokens` that each case fails for its reason (the
suite prints every message).
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the gait cases' helpers, shared
from make_malformed_h5 import case as h5_case, finish, fixed, out_dir, relink, setitem, truncated  # noqa: E402


def columns():
    """The valid store as name -> value; cases change entries before writing."""
    return {
        "attrs": {"format": np.bytes_(b"agir-tokens"), "version": np.int64(1),
                  "model_hash": np.bytes_(b"sha256:00ff"), "codebook_size": np.int64(512),
                  "downsample": np.int64(4), "model_fps": np.int64(20)},
        "codes": np.array([5, 17, 511, 0, 3, 3, 100, 200, 300], np.int32),
        "sequences/id": fixed(["SUB01_on_walk_1", "SUB01_off_walk_1", "SUB02_off_walk_1"]),
        "sequences/subject": fixed(["SUB01", "SUB01", "SUB02"]),
        "sequences/offset": np.array([0, 3, 5], np.int64),
        "sequences/length": np.array([3, 2, 4], np.int64),
        "sequences/medication": np.array([1, 0, -1], np.int8),
        "sequences/updrs_gait": np.array([1, 2, -1], np.int8),
    }


def case(out, name, change=None, after=None):
    h5_case(out, name, change, after, base=columns)


def attr(key, value):
    return lambda c: c["attrs"].__setitem__(key, value)


def codes_with(i, v):
    def change(c):
        c["codes"] = c["codes"].copy()
        c["codes"][i] = v
    return change


def vlen_hash(f):
    del f.attrs["model_hash"]
    f.attrs["model_hash"] = "sha256:00ff"  # a Python str: variable-length, refused


def bomb_codes(f):
    # A billion codes claimed, nothing stored: must be refused before allocating.
    del f["codes"]
    f.create_dataset("codes", shape=(1 << 30,), dtype=np.int32, chunks=(4096,), compression="gzip")


def main():
    out = out_dir("tokens")
    case(out, "version_2.h5", attr("version", np.int64(2)))
    case(out, "no_model_hash.h5", lambda c: c["attrs"].pop("model_hash"))
    case(out, "model_hash_space.h5", attr("model_hash", np.bytes_(b"sha256 00ff")))
    case(out, "model_hash_vlen.h5", after=vlen_hash)
    case(out, "codebook_zero.h5", attr("codebook_size", np.int64(0)))
    case(out, "downsample_huge.h5", attr("downsample", np.int64(1 << 20)))
    case(out, "model_fps_text.h5", attr("model_fps", np.bytes_(b"20")))
    case(out, "code_negative.h5", codes_with(4, -3))
    case(out, "code_past_codebook.h5", codes_with(7, 512))
    case(out, "codes_int64.h5", lambda c: c.__setitem__("codes", c["codes"].astype(np.int64)))
    case(out, "codes_2d.h5", lambda c: c.__setitem__("codes", c["codes"].reshape(3, 3)))
    case(out, "missing_codes.h5", setitem("codes", None))
    case(out, "offset_past_end.h5", setitem("sequences/offset", np.array([0, 3, 6], np.int64)))
    case(out, "overlapping.h5", setitem("sequences/offset", np.array([0, 2, 5], np.int64)))
    case(out, "zero_length.h5", setitem("sequences/length", np.array([3, 0, 4], np.int64)))
    case(out, "duplicate_ids.h5", setitem("sequences/id", fixed(["a", "b", "a"])))
    case(out, "empty_id.h5", setitem("sequences/id", fixed(["a", "", "c"])))
    case(out, "mismatched_lengths.h5", setitem("sequences/updrs_gait", np.array([1, 2], np.int8)))
    case(out, "score_5.h5", setitem("sequences/updrs_gait", np.array([1, 5, -1], np.int8)))
    case(out, "medication_3.h5", setitem("sequences/medication", np.array([1, 3, -1], np.int8)))
    case(out, "soft_link.h5", after=relink("codes", lambda f: h5py.SoftLink("/sequences/offset")))
    case(out, "unstored_huge_codes.h5", after=bomb_codes)

    truncated(os.path.join(out, "truncated.h5"), columns())
    finish(out, "make_malformed_tokens")


if __name__ == "__main__":
    main()
