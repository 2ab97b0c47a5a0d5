#!/usr/bin/python3
"""Writes the malformed gait files of tests/malformed/h5/ (each must make `agir info` exit 2).

    /usr/bin/python3 tools/make_malformed_h5.py [OUT_DIR]     (default: tests/malformed/h5)

Needs h5py (Debian: python3-h5py). Each case starts from a tiny valid dataset (2 sequences, 4
frames) and breaks one rule of docs/dataset_format.md. Strings are fixed-length and datasets
contiguous unless a case needs chunks, so the files stay small (each well under 20 KB). The
layout cases patch layout-message or chunk-index bytes after writing, since h5py cannot write
them wrong; each patch must match exactly once.
The files are committed; rerun this script only when the format changes, then run the
malformed suite (ctest -R malformed_h5) to check every case still fails for its reason.
"""
import os
import struct
import sys

import h5py
import numpy as np

JOINTS = ["pelvis", "r_hip", "r_knee", "r_foot", "l_hip", "l_knee", "l_foot", "spine", "thorax",
          "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"]
PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]


def fixed(strings):
    """Fixed-length UTF-8 byte strings (no global heap, unlike variable-length ones)."""
    enc = [s.encode("utf-8") if isinstance(s, str) else s for s in strings]
    return np.array(enc, dtype="S%d" % max(1, max((len(s) for s in enc), default=1)))


def columns():
    """The valid dataset as name -> value; cases change entries before writing."""
    frames = np.zeros((4, 17, 3), np.float32)
    frames[:, :, 1] = np.linspace(0.0, 1.7, 17, dtype=np.float32)
    return {
        "attrs": {"format": np.bytes_(b"agir-gait"), "version": np.int64(1), "skeleton": np.bytes_(b"h36m17")},
        "skeleton/joint_names": fixed(JOINTS),
        "skeleton/parents": np.array(PARENTS, np.int32),
        "frames": frames,
        "sequences/id": fixed(["SUB01_on_walk_1", "SUB01_off_walk_1"]),
        "sequences/subject": fixed(["SUB01", "SUB01"]),
        "sequences/source": fixed(["synth", "synth"]),
        "sequences/description": fixed(["", ""]),
        "sequences/rationale": fixed(["", ""]),
        "sequences/offset": np.array([0, 2], np.int64),
        "sequences/length": np.array([2, 2], np.int64),
        "sequences/medication": np.array([1, 0], np.int8),
        "sequences/updrs_gait": np.array([1, 2], np.int8),
        "sequences/fps": np.array([20, 20], np.float32),
    }


def write(path, cols, after=None):
    with h5py.File(path, "w") as f:
        for k, v in cols["attrs"].items():
            f.attrs[k] = v
        for name, value in cols.items():
            if name != "attrs" and value is not None:
                f.create_dataset(name, data=value)
        if after:
            after(f)


def case(out, name, change=None, after=None, base=columns):
    """Writes out/name: the valid file of base() (default: the gait dataset), with `change` applied
    to its columns before writing and `after` to the open file."""
    cols = base()
    if change:
        change(cols)
    write(os.path.join(out, name), cols, after)


def out_dir(suite):
    """OUT_DIR from the command line, else tests/malformed/<suite>; created if missing."""
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "malformed", suite)
    out = sys.argv[1] if len(sys.argv) > 1 else default
    os.makedirs(out, exist_ok=True)
    return out


def truncated(path, cols):
    """The valid file of cols, cut in half."""
    write(path, cols)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def finish(out, tool):
    """Writes the suite's COMMAND file and holds every case to the 20 KB budget."""
    with open(os.path.join(out, "COMMAND"), "w") as f:
        f.write("info {}\n")
    for name in sorted(os.listdir(out)):
        size = os.path.getsize(os.path.join(out, name))
        if size > 20 * 1024:
            sys.exit("%s: %s is %d bytes, over the 20 KB budget" % (tool, name, size))


def setitem(key, value):
    return lambda c: c.__setitem__(key, value)


def relink(name, make):
    def after(f):
        del f[name]
        f[name] = make(f)
    return after


def virtual_frames(f):
    del f["frames"]
    layout = h5py.VirtualLayout(shape=(4, 17, 3), dtype=np.float32)
    layout[:] = h5py.VirtualSource("other.h5", "frames", shape=(4, 17, 3))
    f.create_virtual_dataset("frames", layout)


def external_frames(f):
    del f["frames"]
    f.create_dataset("frames", shape=(4, 17, 3), dtype=np.float32, external=[("raw.bin", 0, 4 * 17 * 3 * 4)])


def bomb_frames(f):
    # A billion frames claimed, nothing stored: must be refused before allocating.
    del f["frames"]
    f.create_dataset("frames", shape=(1 << 30, 17, 3), dtype=np.float32, chunks=(1024, 17, 3), compression="gzip")


def lzf_frames(f):
    # LZF is an h5py plugin filter, not built into libhdf5: refused, never loaded.
    data = f["frames"][...]
    del f["frames"]
    f.create_dataset("frames", data=data, chunks=(4, 17, 3), compression="lzf")


def patch(path, old, new, after=0):
    """Replaces the one occurrence of bytes `old` at or after offset `after` (layout and chunk
    index fields that h5py will not write wrong; HDF5 File Format Specification 3.0, IV.A.2.i)."""
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(old, after)
    if at < 0 or data.find(old, at + 1) >= 0:
        sys.exit("make_malformed_h5: %s: the bytes to patch are missing or ambiguous" % path)
    with open(path, "wb") as f:
        f.write(data[:at] + new + data[at + len(old):])


def chunked_frames(maxshape, compression, chunks=(2, 17, 3)):
    def after(f):
        data = f["frames"][...]
        del f["frames"]
        f.create_dataset("frames", data=data, chunks=chunks, maxshape=maxshape, compression=compression)
    return after


def compact_frames(f):
    data = f["frames"][...]
    del f["frames"]
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    dcpl.set_obj_track_times(False)  # byte-stable output, as h5py does for its own datasets
    space = h5py.h5s.create_simple(data.shape)
    h5py.h5d.create(f.id, b"frames", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl).write(h5py.h5s.ALL, h5py.h5s.ALL, data)


def layout_case(out, name, after, old, new):
    """A case whose /frames layout is then patched on disk; old/new may call (file bytes, frames)."""
    path = os.path.join(out, name)
    write(path, columns(), after)
    with h5py.File(path, "r") as f:
        d = f["frames"]
        info = (d.id.get_offset(), d.id.get_storage_size(),
                d.id.get_chunk_info(0).byte_offset if d.chunks else None)
    patch(path, old(*info), new(*info, os.path.getsize(path)))


# Layout message v3 (IV.A.2.i): chunked: version 3, class 2, rank + 1, B-tree address, then 4-byte
# chunk extents and the element size; contiguous: version 3, class 1, address, size.
CHUNK_DIMS = struct.pack("<BBB", 3, 2, 4)


def main():
    out = out_dir("h5")
    nan = columns()["frames"].copy()
    nan[3, 5, 0] = np.nan

    case(out, "wrong_format.h5", lambda c: c["attrs"].__setitem__("format", np.bytes_(b"agir-tokens")))
    case(out, "version_2.h5", lambda c: c["attrs"].__setitem__("version", np.int64(2)))
    case(out, "unknown_skeleton.h5", lambda c: c["attrs"].__setitem__("skeleton", np.bytes_(b"smpl24")))
    case(out, "no_format_attr.h5", lambda c: c["attrs"].pop("format"))
    case(out, "joint_order.h5", setitem("skeleton/joint_names", fixed(JOINTS[::-1])))
    case(out, "frames_float64.h5", lambda c: c.__setitem__("frames", c["frames"].astype(np.float64)))
    case(out, "frames_rank2.h5", lambda c: c.__setitem__("frames", c["frames"].reshape(4, 51)))
    case(out, "frames_16_joints.h5", lambda c: c.__setitem__("frames", c["frames"][:, :16, :]))
    case(out, "missing_frames.h5", setitem("frames", None))
    case(out, "nan_in_frames.h5", setitem("frames", nan))
    case(out, "offset_past_end.h5", setitem("sequences/offset", np.array([0, 3], np.int64)))
    case(out, "overlapping.h5", setitem("sequences/offset", np.array([0, 1], np.int64)))
    case(out, "negative_length.h5", setitem("sequences/length", np.array([2, -2], np.int64)))
    case(out, "zero_length.h5", setitem("sequences/length", np.array([0, 2], np.int64)))
    case(out, "offset_int32.h5", setitem("sequences/offset", np.array([0, 2], np.int32)))
    case(out, "mismatched_lengths.h5", setitem("sequences/fps", np.array([20], np.float32)))
    case(out, "duplicate_ids.h5", setitem("sequences/id", fixed(["SUB01_walk", "SUB01_walk"])))
    case(out, "empty_id.h5", setitem("sequences/id", fixed(["SUB01_walk", ""])))
    case(out, "bad_utf8.h5", setitem("sequences/subject", fixed([b"SUB01", b"SUB\xff"])))
    case(out, "score_5.h5", setitem("sequences/updrs_gait", np.array([1, 5], np.int8)))
    case(out, "medication_3.h5", setitem("sequences/medication", np.array([3, 0], np.int8)))
    case(out, "fps_zero.h5", setitem("sequences/fps", np.array([20, 0], np.float32)))
    case(out, "gt_wrong_shape.h5", after=lambda f: (
        f.create_dataset("ground_truth/names", data=fixed(["cadence"])),
        f.create_dataset("ground_truth/values", data=np.zeros((3, 1), np.float32))))
    case(out, "external_link.h5", after=relink("frames", lambda f: h5py.ExternalLink("other.h5", "/frames")))
    case(out, "soft_link.h5", after=relink("sequences/fps", lambda f: h5py.SoftLink("/sequences/length")))
    case(out, "virtual_dataset.h5", after=virtual_frames)
    case(out, "external_storage.h5", after=external_frames)
    case(out, "unstored_huge_frames.h5", after=bomb_frames)
    case(out, "plugin_filter.h5", after=lzf_frames)

    # Layouts that libhdf5 1.10 would copy out of bounds from (found by tests/fuzz/fuzz_gait_h5.c).
    dims = struct.pack("<IIII", 2, 17, 3, 4)
    layout_case(out, "chunk_over_extent.h5", chunked_frames((4, 17, 3), "gzip"),
                lambda *_: dims, lambda *_: struct.pack("<IIII", 2, 17, 4194307, 4))
    one = struct.pack("<IIII", 4, 17, 3, 4)  # all 4 frames in one chunk
    layout_case(out, "chunk_count.h5", chunked_frames((None, 17, 3), None),
                lambda *_: dims, lambda *_: struct.pack("<IIII", 1000, 17, 3, 4))
    layout_case(out, "chunk_shape_lie.h5", chunked_frames((None, 17, 3), None, (4, 17, 3)),
                lambda *_: one, lambda *_: struct.pack("<IIII", 1000, 17, 3, 4))
    layout_case(out, "chunk_ratio_lie.h5", chunked_frames((None, 17, 3), "gzip", (4, 17, 3)),
                lambda *_: one, lambda *_: struct.pack("<IIII", 200000, 17, 3, 4))
    # One chunk of 4 frames claiming 8: within deflate's ratio, but the stream inflates to 4.
    layout_case(out, "chunk_stream_short.h5", chunked_frames((None, 17, 3), "gzip", (4, 17, 3)),
                lambda *_: one, lambda *_: struct.pack("<IIII", 8, 17, 3, 4))
    layout_case(out, "chunk_past_end.h5", chunked_frames((None, 17, 3), None),
                lambda off, size, chunk: struct.pack("<Q", chunk),
                lambda off, size, chunk, n: struct.pack("<Q", n + 4096))
    layout_case(out, "contiguous_past_end.h5", None,
                lambda off, size, chunk: struct.pack("<BBQQ", 3, 1, off, size),
                lambda off, size, chunk, n: struct.pack("<BBQQ", 3, 1, n - 64, size))
    layout_case(out, "contiguous_long.h5", None,
                lambda off, size, chunk: struct.pack("<BBQQ", 3, 1, off, size),
                lambda off, size, chunk, n: struct.pack("<BBQQ", 3, 1, off, size + 64))
    layout_case(out, "compact_short.h5", compact_frames,
                lambda *_: struct.pack("<BBH", 3, 0, 816), lambda *_: struct.pack("<BBH", 3, 0, 800))

    # A root attribute message (version 1: version, reserved, name/datatype/dataspace sizes, then
    # the name; IV.A.2.m) whose datatype size runs past it: libhdf5 would read past its buffer.
    path = os.path.join(out, "attr_size_lie.h5")
    write(path, columns())
    with open(path, "rb") as f:
        data = f.read()
    at = data.find(b"version\x00") - 8
    if at < 0 or data[at:at + 4] != b"\x01\x00\x08\x00":
        sys.exit("make_malformed_h5: attr_size_lie.h5: no version-1 attribute message for 'version'")
    with open(path, "wb") as f:
        f.write(data[:at + 4] + struct.pack("<H", 0x7fff) + data[at + 6:])

    # Byte-level damage.
    truncated(os.path.join(out, "truncated.h5"), columns())
    with open(os.path.join(out, "not_hdf5.h5"), "wb") as f:
        f.write(b"id,subject,score\nSUB01_on_walk_1,SUB01,1\n")
    open(os.path.join(out, "empty.h5"), "wb").close()
    finish(out, "make_malformed_h5")


if __name__ == "__main__":
    main()
