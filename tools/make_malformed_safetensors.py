#!/usr/bin/python3
"""Writes the malformed safetensors files of tests/malformed/safetensors/ (each must make
`agir inspect` exit 2 with one line) and the seed corpus of tests/fuzz/corpus/safetensors/.

    /usr/bin/python3 tools/make_malformed_safetensors.py [MALFORMED_DIR [CORPUS_DIR]]

Plain Python (no torch, no numpy). A safetensors file is an 8-byte little-endian header length,
a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}} and the data
buffer (https://github.com/huggingface/safetensors). Each case breaks one rule that the reference
reader (safetensors/src/tensor.rs) enforces, or one AGIR adds (docs/checkpoints.md). The files
are committed; rerun this script only when the cases change, then `ctest -R malformed_safetensors`.
"""
import json
import os
import struct
import sys


def image(header, data=b"", length=None):
    """File bytes for a header (a dict, or raw str/bytes taken verbatim) and a data buffer."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(header, str):
        header = header.encode("utf-8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def good():
    """A valid file: two F32 tensors and metadata (the base most cases break)."""
    hdr = {"__metadata__": {"format": "pt"}, "a": entry("F32", [2], 0, 8), "b": entry("F32", [1], 8, 12)}
    return image(hdr, bytes(12))


def cases():
    valid = good()
    a8 = entry("F32", [2], 0, 8)
    return {
        "empty.safetensors": b"",
        "seven_bytes.safetensors": b"\x10\x00\x00\x00\x00\x00\x00",
        "header_huge.safetensors": struct.pack("<Q", 1 << 63) + b"{}",
        "header_over_limit.safetensors": struct.pack("<Q", 100_000_001) + b"{}",
        "header_past_eof.safetensors": image("{}", length=64),
        "truncated_header.safetensors": valid[:30],
        "truncated_data.safetensors": valid[:-3],
        "trailing_bytes.safetensors": valid + b"\x00\x00\x00\x00",
        "not_json.safetensors": image("this is not json at all!", b""),
        "json_cut.safetensors": image('{"a":{"dtype":"F32","shape":[2'),
        "json_array.safetensors": image("[1,2,3]"),
        "json_string.safetensors": image('"tensors"'),
        "bad_utf8.safetensors": image(b'{"a\xff":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'),
        "nul_in_header.safetensors": image(b'{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}\x00   '),
        "duplicate_names.safetensors": image('{"a":%s,"a":%s}' % (json.dumps(a8), json.dumps(entry("F32", [2], 8, 16))),
                                             bytes(16)),
        "gap_between_tensors.safetensors": image({"a": a8, "b": entry("F32", [1], 12, 16)}, bytes(16)),
        "gap_at_start.safetensors": image({"a": entry("F32", [2], 4, 12)}, bytes(12)),
        "overlap.safetensors": image({"a": a8, "b": entry("F32", [1], 4, 8)}, bytes(8)),
        "offsets_reversed.safetensors": image({"a": entry("F32", [2], 8, 0)}, bytes(8)),
        "shape_size_mismatch.safetensors": image({"a": entry("F32", [3], 0, 8)}, bytes(8)),
        "dtype_size_mismatch.safetensors": image({"a": entry("F64", [2], 0, 8)}, bytes(8)),
        "negative_dim.safetensors": image({"a": entry("F32", [-2], 0, 8)}, bytes(8)),
        "fractional_dim.safetensors": image({"a": entry("F32", [2.5], 0, 8)}, bytes(8)),
        "too_many_dims.safetensors": image({"a": entry("F32", [1] * 9 + [2], 0, 8)}, bytes(8)),
        "numel_overflow.safetensors": image({"a": entry("F32", [1 << 32, 1 << 32, 16], 0, 8)}, bytes(8)),
        "unknown_dtype.safetensors": image({"a": entry("F31", [2], 0, 8)}, bytes(8)),
        "unsupported_dtype_f8.safetensors": image({"a": entry("F8_E4M3", [8], 0, 8)}, bytes(8)),
        "dtype_not_string.safetensors": image({"a": entry(32, [2], 0, 8)}, bytes(8)),
        "missing_dtype.safetensors": image({"a": {"shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        "entry_not_object.safetensors": image({"a": [0, 8]}, bytes(8)),
        "offsets_not_integers.safetensors": image({"a": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}},
                                                  bytes(8)),
        "offsets_wrong_length.safetensors": image({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}},
                                                  bytes(8)),
        "offsets_huge.safetensors": image({"a": entry("U8", [2], 0, 1 << 62)}, bytes(2)),
        "metadata_not_string.safetensors": image({"__metadata__": {"step": 12}, "a": a8}, bytes(8)),
        "metadata_nested.safetensors": image({"__metadata__": {"cfg": {"lr": "0.1"}}, "a": a8}, bytes(8)),
        "metadata_array.safetensors": image({"__metadata__": ["format", "pt"], "a": a8}, bytes(8)),
        "duplicate_metadata_key.safetensors": image('{"__metadata__":{"k":"1","k":"2"},"a":%s}' % json.dumps(a8),
                                                    bytes(8)),
        "nul_escape_name.safetensors": image('{"a\\u0000b":%s}' % json.dumps(a8), bytes(8)),
    }


def corpus():
    """Small valid files (every dtype, scalars, empty tensors, metadata) for the fuzzer to mutate."""
    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
    hdr, at = {"__metadata__": {"format": "pt", "agir.step": "3"}}, 0
    for i, (dt, k) in enumerate(sizes.items()):
        shape = [i % 3 + 1, 2]
        n = shape[0] * shape[1] * k
        hdr["t%d.%s" % (i, dt.lower())] = entry(dt, shape, at, at + n)
        at += n
    text = json.dumps(hdr, separators=(",", ":"))
    text += " " * (-len(text) % 8)  # padded like the reference writer
    return {
        "all_dtypes.safetensors": image(text, bytes(i % 251 for i in range(at))),
        "minimal.safetensors": good(),
        "empty_header.safetensors": image("{}      "),
        "scalar_and_empty.safetensors": image({"s": entry("F64", [], 0, 8), "z": entry("BF16", [0, 4], 8, 8)},
                                              struct.pack("<d", 1.5)),
        "whitespace.safetensors": image(' \n{"__metadata__":null,"x":{"dtype":"I8","shape":[3],"data_offsets":[0,3],'
                                        '"extra":1}} ', b"\x01\x02\x03"),
    }


def write_all(out_dir, files):
    os.makedirs(out_dir, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    bad_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/malformed/safetensors")
    seed_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "tests/fuzz/corpus/safetensors")
    write_all(bad_dir, cases())
    with open(os.path.join(bad_dir, "COMMAND"), "w") as f:
        f.write("inspect {}\n")
    write_all(seed_dir, corpus())
    print("wrote %d malformed files to %s and %d seeds to %s" % (len(cases()), bad_dir, len(corpus()), seed_dir))


if __name__ == "__main__":
    main()
