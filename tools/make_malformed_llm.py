#!/usr/bin/env python3
"""Malformed LLM inputs for `agir model-info` (tests/malformed/llm/): tiny GGUF files that are valid
GGUF but not a usable Llama model, and HF folders without usable weights. Each must be refused with
exit code 2 and one line naming it. Run with the gguf package (e.g. /work/venv-gguf):
  /work/venv-gguf/bin/python tools/make_malformed_llm.py tests/malformed/llm
"""
import json
import os
import sys

import gguf
import numpy as np

out = sys.argv[1]
CFG = {"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
       "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 8, "rms_norm_eps": 1e-5}


def llama_gguf(name, arch="llama", skip=(), extra=None, embd=True):
    w = gguf.GGUFWriter(os.path.join(out, name), arch)
    keys = {"block_count": w.add_block_count, "embedding_length": w.add_embedding_length,
            "feed_forward_length": w.add_feed_forward_length, "head_count": w.add_head_count,
            "layer_norm_rms_eps": w.add_layer_norm_rms_eps}
    vals = {"block_count": 1, "embedding_length": 16, "feed_forward_length": 32, "head_count": 2,
            "layer_norm_rms_eps": 1e-5}
    for k, f in keys.items():
        if k not in skip:
            f(vals[k])
    if extra:
        extra(w)
    if embd:
        w.add_tensor("token_embd.weight", np.zeros((8, 16), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def hf_dir(name, config=CFG, files=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f)
    for fname, text in (files or {}).items():
        with open(os.path.join(d, fname), "w") as f:
            f.write(text)


llama_gguf("arch_bert.gguf", arch="bert")
llama_gguf("missing_block_count.gguf", skip=("block_count",))
llama_gguf("rope_scaling_yarn.gguf", extra=lambda w: w.add_rope_scaling_type(gguf.RopeScalingType.YARN))
llama_gguf("partial_rotary.gguf", extra=lambda w: w.add_rope_dimension_count(4))
llama_gguf("no_token_embd.gguf", embd=False)
llama_gguf("missing_layer_tensors.gguf")
hf_dir("hf_no_weights")
hf_dir("hf_bad_model_type", config=dict(CFG, model_type="bert"))
hf_dir("hf_index_escapes", files={"model.safetensors.index.json": json.dumps(
    {"metadata": {}, "weight_map": {"model.embed_tokens.weight": "../../model.safetensors"}})})
