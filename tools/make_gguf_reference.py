#!/usr/bin/env python3
"""Writes tests/data/gguf/reference.gguf with the `gguf` PyPI package (llama.cpp's own Python
writer and reference quantizer), for tests/unit/test_gguf.c.

Not needed by CI: the output is committed. Run it from a virtual environment outside the repo:
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install gguf numpy
    /tmp/venv/bin/python tools/make_gguf_reference.py [SmolLM2-135M-Instruct.Q4_1.gguf]

Contents: for each of Q8_0, Q4_0, Q4_1, BF16 a tensor "q.<TYPE>" quantized by gguf.quants from
seeded random rows of varied scale, and "ref.<TYPE>" = gguf.quants.dequantize of it as F32;
"half.all" holds all 65536 float16 bit patterns and "ref.half" numpy's float32 of them; "arange.3d"
is float32 0..23 of numpy shape (2, 3, 4); one key per metadata value type. Given the SmolLM2 file,
"real.<name>" are the first rows of two of its tensors (raw bytes) with "realref.<name>" their
gguf-package dequantization.
"""
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

OUT = "tests/data/gguf/reference.gguf"


def main():
    rng = np.random.default_rng(20241125)
    w = gguf.GGUFWriter(OUT, arch="test")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.str", "héllo\nworld")
    w.add_uint64("test.u64", 2**40 + 5)
    w.add_int64("test.i64", -(2**40))
    w.add_float64("test.f64", 1.0 / 3.0)
    w.add_array("test.arr_i32", [3, -1, 7])
    w.add_array("test.arr_str", ["a", "", "xyz"])
    w.add_array("test.arr_f32", [0.5, -2.0])

    # Rows of 64 with per-row scales spanning 1e-3..1e2 so that the f16 block scales vary.
    rows = rng.standard_normal((4, 64)).astype(np.float32) * np.float32([[1e-3], [0.1], [1.0], [100.0]])
    for t in (QT.Q8_0, QT.Q4_0, QT.Q4_1, QT.BF16):
        q = gguf.quants.quantize(rows, t)
        w.add_tensor("q." + t.name, q, raw_shape=q.shape, raw_dtype=t)
        w.add_tensor("ref." + t.name, gguf.quants.dequantize(q, t).astype(np.float32))
    half = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    w.add_tensor("half.all", half.view(np.float16))
    w.add_tensor("ref.half", half.view(np.float16).astype(np.float32))
    w.add_tensor("arange.3d", np.arange(24, dtype=np.float32).reshape(2, 3, 4))

    if len(sys.argv) > 1:
        r = gguf.GGUFReader(sys.argv[1])
        for t in r.tensors:
            if t.name in ("blk.0.attn_q.weight", "token_embd.weight"):
                qt = QT(t.tensor_type)
                nrow = 2
                raw = np.asarray(t.data)[:nrow]  # rows of quantized bytes
                w.add_tensor("real." + t.name, raw, raw_shape=raw.shape, raw_dtype=qt)
                w.add_tensor("realref." + t.name, gguf.quants.dequantize(raw, qt).astype(np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
