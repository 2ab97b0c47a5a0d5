#!/usr/bin/env python3
"""Writes the GGUF malformed-file suite (tests/malformed/gguf/) and the fuzz seed corpus
(tests/fuzz/corpus/gguf/). Plain Python (struct), no dependencies:
    python3 tools/make_malformed_gguf.py

Each malformed case is a small file hitting one known GGUF failure class (ggml's docs/gguf.md for
the layout; the classes are those of the published GGUF parser CVEs: huge counts and string
lengths, size arithmetic that wraps, nested arrays, bad alignment, data shorter than declared,
token ids outside the vocabulary, plus unsupported types and non-finite weights). `agir gguf-info`
must refuse each with exit code 2 and one line. The seeds are small valid files covering every
value type and every tensor type AGIR reads.
"""
import os
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MALFORMED = os.path.join(ROOT, "tests", "malformed", "gguf")
SEEDS = os.path.join(ROOT, "tests", "fuzz", "corpus", "gguf")

# Metadata value types and ggml tensor types, as numbered in the file.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
T_F32, T_F16, T_Q4_0, T_Q4_1, T_Q8_0, T_Q6_K, T_I8, T_I32, T_F64, T_BF16 = 0, 1, 2, 3, 8, 14, 24, 26, 28, 30
SCALAR_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B",
              U64: "Q", I64: "q", F64: "d"}


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return u64(len(b)) + b


def value(vtype, v):
    if vtype == STRING:
        return gstr(v)
    return struct.pack("<" + SCALAR_FMT[vtype], v)


def kv(key, vtype, v):
    return gstr(key) + u32(vtype) + value(vtype, v)


def kv_array(key, etype, items):
    return gstr(key) + u32(ARRAY) + u32(etype) + u64(len(items)) + b"".join(value(etype, x) for x in items)


def tinfo(name, dims, ttype, offset):
    """dims innermost first, as in the file."""
    return gstr(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(ttype) + u64(offset)


def header(n_tensors, n_kv, version=3):
    return b"GGUF" + u32(version) + u64(n_tensors) + u64(n_kv)


def pad(b, align=32):
    return b + b"\0" * ((-len(b)) % align)


def gguf(kvs=(), tensors=(), data=b"", version=3, align=32):
    """A file from encoded key/values and (info bytes) tensors, then the data section."""
    head = header(len(tensors), len(kvs), version) + b"".join(kvs) + b"".join(tensors)
    return pad(head, align) + data if tensors else head


def q8_0_block(d, qs):
    return struct.pack("<e", d) + struct.pack("<32b", *qs)


def q4_block(d, m, nibbles):
    packed = bytes((nibbles[j] & 15) | (nibbles[j + 16] & 15) << 4 for j in range(16))
    return struct.pack("<e", d) + (struct.pack("<e", m) if m is not None else b"") + packed


def f32s(*xs):
    return struct.pack("<%df" % len(xs), *xs)


# A correct small model: what most malformed cases start from.
TOKENS = ["<s>", "</s>", "a", "b"]


def good_kvs():
    return [kv("general.architecture", STRING, "llama"), kv("llama.block_count", U32, 1),
            kv_array("tokenizer.ggml.tokens", STRING, TOKENS),
            kv_array("tokenizer.ggml.token_type", I32, [3, 3, 1, 1]),
            kv("tokenizer.ggml.bos_token_id", U32, 0), kv("tokenizer.ggml.eos_token_id", U32, 1)]


def good(kvs=None):
    w = q8_0_block(0.5, list(range(-16, 16)))
    return gguf(good_kvs() if kvs is None else kvs,
                [tinfo("norm.weight", [4], T_F32, 0), tinfo("w.weight", [32, 1], T_Q8_0, 32)],
                pad(f32s(1, 1, 1, 1)) + w)


def malformed_cases():
    c = {}
    g = good()
    c["empty"] = b""
    c["bad_magic"] = b"GGUX" + g[4:]
    c["magic_only"] = b"GGUF"
    c["version1"] = b"GGUF" + u32(1) + g[8:]
    c["version4"] = b"GGUF" + u32(4) + g[8:]
    c["big_endian"] = b"GGUF" + struct.pack(">I", 3) + g[8:]
    c["truncated_header"] = g[:15]
    c["truncated_in_kv"] = g[:g.index(b"</s>") + 2]
    c["truncated_in_tensor_info"] = g[:g.index(b"w.weight") + 4]
    c["huge_kv_count"] = header(0, 1 << 63) + kv("a", U32, 1)
    c["huge_tensor_count"] = header(1 << 62, 0) + tinfo("w", [4], T_F32, 0)
    c["huge_key_length"] = header(0, 1) + u64((1 << 64) - 1) + b"key" + u32(U32) + u32(1)
    c["huge_string_value"] = header(0, 1) + gstr("k") + u32(STRING) + u64(1 << 62) + b"abc"
    c["huge_array_count"] = header(0, 1) + gstr("k") + u32(ARRAY) + u32(U32) + u64(1 << 62) + u32(7)
    c["huge_string_array"] = header(0, 1) + gstr("k") + u32(ARRAY) + u32(STRING) + u64(1 << 60) + gstr("x")
    # 2^61 + 1 eight-byte values: the byte count wraps to 8 in 64-bit arithmetic.
    c["array_bytes_wrap"] = header(0, 1) + gstr("k") + u32(ARRAY) + u32(U64) + u64((1 << 61) + 1) + u64(5)
    c["nested_array"] = header(0, 1) + gstr("k") + u32(ARRAY) + u32(ARRAY) + u64(1) + u32(U8) + u64(1) + b"\1"
    c["unknown_value_type"] = header(0, 1) + gstr("k") + u32(13) + u32(0)
    c["unknown_array_type"] = header(0, 1) + gstr("k") + u32(ARRAY) + u32(99) + u64(1) + u32(0)
    c["bool_value_2"] = header(0, 1) + gstr("k") + u32(BOOL) + b"\2" + b"\0" * 8
    c["empty_key"] = header(0, 1) + gstr("") + u32(U32) + u32(1)
    c["key_control_char"] = header(0, 1) + gstr("bad\x1bkey") + u32(U32) + u32(1)
    c["key_invalid_utf8"] = header(0, 1) + gstr(b"k\xc3\x28") + u32(U32) + u32(1)
    c["duplicate_key"] = header(0, 2) + kv("k", U32, 1) + kv("k", U32, 2)
    tensor = [tinfo("w", [4], T_F32, 0)]
    c["alignment_zero"] = gguf([kv("general.alignment", U32, 0)], tensor, f32s(1, 2, 3, 4))
    c["alignment_not_pow2"] = gguf([kv("general.alignment", U32, 24)], tensor, f32s(1, 2, 3, 4), align=24)
    c["alignment_wrong_type"] = gguf([kv("general.alignment", U64, 32)], tensor, f32s(1, 2, 3, 4))
    c["tensor_name_too_long"] = gguf([], [tinfo("n" * 64, [4], T_F32, 0)], f32s(1, 2, 3, 4))
    c["tensor_name_empty"] = gguf([], [tinfo("", [4], T_F32, 0)], f32s(1, 2, 3, 4))
    c["tensor_zero_dims"] = gguf([], [tinfo("w", [], T_F32, 0)], f32s(1))
    c["tensor_five_dims"] = gguf([], [tinfo("w", [1, 1, 1, 1, 1], T_F32, 0)], f32s(1))
    c["tensor_dim_zero"] = gguf([], [tinfo("w", [4, 0], T_F32, 0)], f32s(1, 2, 3, 4))
    c["tensor_dims_overflow"] = gguf([], [tinfo("w", [1 << 32, 1 << 32], T_F32, 0)], f32s(1))
    # 2^62 F64 elements: the element count fits in int64, the byte count (2^65) does not.
    c["tensor_bytes_overflow"] = gguf([], [tinfo("w", [1 << 31, 1 << 31], T_F64, 0)], f32s(1))
    c["tensor_unsupported_type"] = gguf([], [tinfo("w", [256], T_Q6_K, 0)], b"\0" * 210)
    c["tensor_unknown_type"] = gguf([], [tinfo("w", [4], 200, 0)], f32s(1, 2, 3, 4))
    c["tensor_partial_block"] = gguf([], [tinfo("w", [33], T_Q4_1, 0)], b"\0" * 40)
    c["tensor_offset_unaligned"] = gguf([], [tinfo("w", [4], T_F32, 4)], f32s(0, 1, 2, 3, 4))
    c["tensor_past_end"] = gguf([], [tinfo("w", [64], T_F32, 0)], f32s(*range(63)))
    c["tensor_offset_huge"] = gguf([], [tinfo("w", [4], T_F32, (1 << 64) - 32)], f32s(1, 2, 3, 4))
    c["tensors_overlap"] = gguf([], [tinfo("a", [16], T_F32, 0), tinfo("b", [8], T_F32, 32)], f32s(*range(24)))
    c["duplicate_tensor"] = gguf([], [tinfo("w", [8], T_F32, 0), tinfo("w", [8], T_F32, 32)], f32s(*range(16)))
    c["data_section_missing"] = header(1, 0) + tinfo("w", [4], T_F32, 0)
    kvs = good_kvs()
    kvs[-1] = kv("tokenizer.ggml.eos_token_id", U32, 4)
    c["token_id_past_vocab"] = good(kvs)
    kvs[-1] = kv("tokenizer.ggml.eos_token_id", I32, -1)
    c["token_id_negative"] = good(kvs)
    kvs = good_kvs()
    kvs[3] = kv_array("tokenizer.ggml.token_type", I32, [3, 3, 1])
    c["token_type_length"] = good(kvs)
    kvs = good_kvs()
    kvs[2] = kv_array("tokenizer.ggml.tokens", U32, [0, 1, 2, 3])
    c["tokens_not_strings"] = good(kvs)
    c["nan_scale_q8_0"] = gguf([], [tinfo("w", [32], T_Q8_0, 0)], q8_0_block(float("nan"), [1] * 32))
    c["inf_min_q4_1"] = gguf([], [tinfo("w", [32], T_Q4_1, 0)], q4_block(1.0, float("inf"), [0] * 32))
    c["inf_f32_value"] = gguf([], [tinfo("w", [4], T_F32, 0)], f32s(1, float("inf"), 0, 0))
    return c


def seeds():
    s = {}
    s["model"] = good()
    s["minimal"] = header(0, 0)
    s["v2"] = gguf([kv("general.name", STRING, "v2")], [tinfo("w", [2], T_F32, 0)], f32s(1, 2), version=2)
    s["all_values"] = gguf([kv("u8", U8, 1), kv("i8", I8, -1), kv("u16", U16, 2), kv("i16", I16, -2),
                            kv("u32", U32, 3), kv("i32", I32, -3), kv("f32", F32, 0.5), kv("bool", BOOL, 1),
                            kv("str", STRING, "s\u00e9"), kv("u64", U64, 4), kv("i64", I64, -4),
                            kv("f64", F64, 0.25), kv_array("arr_str", STRING, ["x", "yz"]),
                            kv_array("arr_f32", F32, [1.0, 2.0]), kv_array("arr_empty", U8, [])])
    halves = struct.pack("<4e", 1.0, -2.0, 6e-8, 65504.0)
    bf16 = struct.pack("<4H", 0x3f80, 0xc000, 0x0001, 0x7f7f)
    blocks = [("q8_0", T_Q8_0, q8_0_block(0.25, list(range(-16, 16)))),
              ("q4_0", T_Q4_0, q4_block(0.5, None, list(range(16)) * 2)),
              ("q4_1", T_Q4_1, q4_block(0.5, -1.0, list(range(16)) * 2)),
              ("f16", T_F16, halves), ("bf16", T_BF16, bf16),
              ("i8", T_I8, bytes([1, 255, 3, 4])), ("i32", T_I32, struct.pack("<4i", 1, -1, 7, 0)),
              ("f64", T_F64, struct.pack("<4d", 1, 2, 3, 4))]
    infos, data = [], b""
    for name, ttype, payload in blocks:
        n = 32 if ttype in (T_Q8_0, T_Q4_0, T_Q4_1) else 4
        infos.append(tinfo(name, [n], ttype, len(data)))
        data = pad(data + payload)
    s["all_types"] = gguf([], infos, data)
    s["align64"] = gguf([kv("general.alignment", U32, 64)],
                        [tinfo("a", [3, 2], T_F32, 0), tinfo("b", [1, 1, 1, 2], T_F32, 64)],
                        pad(f32s(*range(6)), 64) + f32s(7, 8), align=64)
    return s


def write_dir(path, files, keep):
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        if f.endswith(".gguf"):
            os.remove(os.path.join(path, f))
    for name, data in sorted(files.items()):
        with open(os.path.join(path, name + ".gguf"), "wb") as f:
            f.write(data)
    for name in keep:
        assert os.path.exists(os.path.join(path, name)), name


def main():
    cases = malformed_cases()
    write_dir(MALFORMED, cases, ["COMMAND"])
    write_dir(SEEDS, seeds(), [])
    # A few refusals as seeds too, so the fuzzer starts next to the checks.
    for name in ("huge_string_array", "nested_array", "tensors_overlap", "token_id_past_vocab"):
        shutil.copy(os.path.join(MALFORMED, name + ".gguf"), os.path.join(SEEDS, "bad_" + name + ".gguf"))
    print("wrote %d malformed cases to %s and seeds to %s" % (len(cases), MALFORMED, SEEDS))


if __name__ == "__main__":
    main()
