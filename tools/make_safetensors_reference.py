#!/usr/bin/env python3
"""Writes tests/fixtures/safetensors/reference.safetensors with the reference implementation
(PyPI `safetensors`, numpy API), so test_safetensors checks the C reader against files the
reference writer produced, not only against AGIR's own writer.

    python -m venv /work/venv && /work/venv/bin/pip install safetensors numpy
    /work/venv/bin/python tools/make_safetensors_reference.py [OUT.safetensors]

Values follow formulas that test_safetensors recomputes (no copied numbers). The fixture is
committed (under 1 KB); CI never runs this script.
"""
import os
import sys

import numpy as np
from safetensors.numpy import save_file


def tensors():
    return {
        "f32": (np.arange(6, dtype=np.float32) * 0.5).reshape(2, 3),
        "f64": np.array(2.5, dtype=np.float64),  # a scalar, shape []
        "f16": np.arange(4, dtype=np.float16) - 1,
        "i64": np.arange(5, dtype=np.int64) * -3,
        "i32": np.arange(3, dtype=np.int32) + 7,
        "i16": np.arange(2, dtype=np.int16) - 300,
        "i8": np.arange(4, dtype=np.int8) - 2,
        "u8": np.arange(3, dtype=np.uint8) + 250,
        "bool": np.array([True, False, True]),
        "empty": np.zeros((0, 3), dtype=np.int32),
    }


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/fixtures/safetensors/reference.safetensors")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    save_file(tensors(), out, metadata={"format": "np", "producer": "safetensors.numpy"})
    print("wrote", out)


if __name__ == "__main__":
    main()
