#!/usr/bin/env python3
"""GGUF copies of the tiny golden Llama fixtures (tests/fixtures/llama/<name>/, made by
tools/make_llama_fixtures.py) for tests/unit/test_llama_load.c, written with the gguf package the
way llama.cpp's convert_hf_to_gguf.py writes them:
  - tensor names token_embd, output (absent when tied), output_norm, blk.N.attn_norm, attn_q/k/v
    (+ .bias), attn_output, ffn_norm, ffn_gate/up/down; hyper-parameters as <arch>.* keys;
  - architecture "llama": q_proj/k_proj rows (and biases) permuted by LlamaModel.permute (copied
    below), Llama 3 RoPE scaling as the rope_freqs.weight tensor (LlamaModel.generate_extra_tensors);
  - architecture "qwen2": no permutation (llama.cpp uses NEOX RoPE there).
Variants: model.f32.gguf (every tensor F32) for gqa_untied and qwen2_bias, model.f16.gguf (2-D
weights F16, vectors F32) for llama3_tied, and model.quant.gguf for gqa_untied with its 2-D
weights spread over Q8_0, Q4_0, Q4_1, F16 and BF16. For the quantized one the script also stores
expected_quant.safetensors: the logits HF transformers computes for the fixture's tokens after
replacing every weight by its gguf-package dequantization (no LoRA), the independent reference the
C loader must match.

Run with /work/venv-llama (torch, transformers, safetensors) and the gguf package from another venv:
  /work/venv-llama/bin/python tools/make_gguf_llama_fixture.py tests/fixtures/llama /work/venv-gguf
"""
import glob
import json
import math
import os
import sys

root, gguf_venv = sys.argv[1:3]
sys.path += glob.glob(os.path.join(gguf_venv, "lib", "python3*", "site-packages"))

import gguf  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

Q = gguf.GGMLQuantizationType
# gqa_untied's quantized variant: type of each 2-D weight.
QUANT_TYPES = {
    "token_embd": Q.Q8_0, "output": Q.Q4_1,
    "blk.0.attn_q": Q.F16, "blk.0.attn_k": Q.BF16, "blk.0.attn_v": Q.Q4_0, "blk.0.attn_output": Q.Q4_1,
    "blk.0.ffn_gate": Q.Q8_0, "blk.0.ffn_up": Q.Q4_0, "blk.0.ffn_down": Q.Q4_1,
    "blk.1.attn_q": Q.Q8_0, "blk.1.attn_k": Q.Q4_1, "blk.1.attn_v": Q.F16, "blk.1.attn_output": Q.BF16,
    "blk.1.ffn_gate": Q.Q4_1, "blk.1.ffn_up": Q.Q8_0, "blk.1.ffn_down": Q.Q4_0,
}
VARIANTS = [("gqa_untied", "f32"), ("gqa_untied", "quant"), ("qwen2_bias", "f32"), ("llama3_tied", "f16")]

HF_TO_GGUF = {
    "model.embed_tokens": "token_embd", "lm_head": "output", "model.norm": "output_norm",
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def permute(weights, n_head, n_head_kv):  # convert_hf_to_gguf.py, LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def gguf_name(hf):
    base, kind = hf.rsplit(".", 1)
    if base in HF_TO_GGUF:
        return HF_TO_GGUF[base] + "." + kind
    layer, rest = base[len("model.layers."):].split(".", 1)
    return f"blk.{layer}.{HF_TO_GGUF[rest]}.{kind}"


def llama3_rope_factors(cfg):  # convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors
    rs = cfg["rope_scaling"]
    dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def qtype_of(name, variant, ndim):
    if ndim == 1 or variant == "f32":
        return Q.F32
    if variant == "f16":
        return Q.F16
    return QUANT_TYPES[name.rsplit(".", 1)[0]]


def roundtrip(x, qt):  # what a reader gets back from type qt
    if qt == Q.F32:
        return x
    return gguf.quants.dequantize(gguf.quants.quantize(x, qt), qt).reshape(x.shape)


def write(d, fixture, variant):
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = cfg["model_type"]
    tensors = load_file(os.path.join(d, "model.safetensors"))
    H, KVH = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(os.path.join(d, f"model.{variant}.gguf"), arch)
    w.add_name(f"agir test fixture {fixture}")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(KVH)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_dimension_count(cfg["hidden_size"] // H)
    w.add_vocab_size(cfg["vocab_size"])
    w.add_file_type(0 if variant == "f32" else 1)
    if arch == "llama" and cfg.get("rope_scaling"):
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
    dequant = {}
    for hf, t in tensors.items():
        x = t.float().numpy()
        name = gguf_name(hf)
        if arch == "llama" and (".attn_q." in name or ".attn_k." in name):
            x = permute(x, H, H if ".attn_q." in name else KVH)
        qt = qtype_of(name, variant, x.ndim)
        if qt == Q.F32:
            w.add_tensor(name, np.ascontiguousarray(x, dtype=np.float32))
        elif qt == Q.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(x, qt), raw_dtype=qt)
        # Rows are quantized independently, so dequantizing in HF row order is the same as
        # permuting the dequantized rows back.
        dequant[hf] = torch.from_numpy(np.array(roundtrip(t.float().numpy(), qt), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return cfg, dequant


def expected_logits(d, cfg, dequant):
    kind = transformers.Qwen2ForCausalLM if cfg["model_type"] == "qwen2" else transformers.LlamaForCausalLM
    model = kind.from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager")
    missing, unexpected = model.load_state_dict(dequant, strict=False)
    assert not unexpected and not [k for k in missing if "rotary_emb" not in k], (missing, unexpected)
    model.eval()
    tokens = load_file(os.path.join(d, "expected.safetensors"))["tokens"].long()
    with torch.no_grad():
        logits = model(input_ids=tokens).logits.float().contiguous()
    save_file({"logits": logits}, os.path.join(d, "expected_quant.safetensors"),
              metadata={"made_by": f"transformers {transformers.__version__}, torch {torch.__version__}, "
                                   "gguf-py dequantization"})


for fixture, variant in VARIANTS:
    d = os.path.join(root, fixture)
    cfg, dequant = write(d, fixture, variant)
    if variant == "quant":
        expected_logits(d, cfg, dequant)
    print(fixture, variant, os.path.getsize(os.path.join(d, f"model.{variant}.gguf")), "bytes")
