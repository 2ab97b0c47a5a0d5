#!/usr/bin/env python3
"""Golden fixtures for the C Llama model (tests/unit/test_llama_golden.c), made with an independent
implementation: PyTorch + HF transformers (the model) + peft (LoRA).

Each fixture folder under tests/fixtures/llama/<name>/ holds
  config.json, model.safetensors   the base model as HF writes it (fp32); its vocabulary includes the
                                   new token rows, which are the last `n_new` rows
  expected.safetensors             inputs (tokens, labels as int32), the LoRA tensors used
                                   (layers.<i>.<target>.lora_A/B), and the reference outputs: logits,
                                   loss, grad.<lora tensor>, grad.new_embed and (untied) grad.new_head
Metadata of expected.safetensors: n_new, lora rank/alpha/rslora/targets, batch and seq.

Loss: cross-entropy summed over tokens whose label is not -1, divided by their count (labels are
already aligned with the positions: the caller shifts). LoRA dropout is 0 so results are exact.

Run it in a virtual environment outside the repository, e.g.
  apt-get install -y python3-torch python3-venv
  /usr/bin/python3 -m venv --system-site-packages /work/venv-llama
  /work/venv-llama/bin/pip install transformers==4.44.2
  /work/venv-llama/bin/pip install --no-deps peft==0.12.0 accelerate==0.33.0 && pip install psutil
(--no-deps: Debian's torch reports version 1.13.0a0, which pip does not count as >= 1.13.0, so it
would fetch a multi-GB CUDA torch otherwise.) The committed fixtures were made with Debian
bookworm's torch 1.13, transformers 4.44.2 and peft 0.12.0 (recorded in each file's metadata).
  /work/venv-llama/bin/python tools/make_llama_fixtures.py tests/fixtures/llama
"""
import json
import os
import sys

import torch
import transformers
import peft
from safetensors.torch import save_file

TARGETS = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
           "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}

BASE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=128, rms_norm_eps=1e-5, max_position_embeddings=64)

FIXTURES = [
    # name, model kind, extra config, lora targets, rank, alpha, rslora
    ("gqa_untied", "llama", dict(rope_theta=10000.0, tie_word_embeddings=False),
     ["q", "k", "v", "o", "gate", "up", "down"], 4, 8.0, False),
    ("llama3_tied", "llama", dict(rope_theta=500000.0, tie_word_embeddings=True,
                                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                    high_freq_factor=4.0,
                                                    original_max_position_embeddings=16)),
     ["q", "v", "down"], 8, 16.0, True),
    ("qwen2_bias", "qwen2", dict(rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False),
     ["q", "k", "v", "o", "up"], 4, 4.0, False),
]

N_NEW = 8
BATCH, SEQ = 2, 12


def make(outdir, name, kind, extra, targets, rank, alpha, rslora, seed):
    torch.manual_seed(seed)
    cfg_kw = dict(BASE, **extra)
    if kind == "llama":
        cfg = transformers.LlamaConfig(**cfg_kw, attention_bias=False)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**cfg_kw)
        model = transformers.Qwen2ForCausalLM(cfg)
    model.config._attn_implementation = "eager"
    # Random init has tiny std (0.02) and zero biases / unit norms: perturb so every term matters.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif n.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
    model.eval()
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    gen = os.path.join(d, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)

    lcfg = peft.LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, use_rslora=rslora,
                           target_modules=[TARGETS[t] for t in targets], bias="none")
    pm = peft.get_peft_model(model, lcfg)
    out = {}
    lora_params = {}
    with torch.no_grad():
        for n, mod in pm.named_modules():
            if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
                layer = int(n.split(".layers.")[1].split(".")[0])
                short = [k for k, v in TARGETS.items() if n.endswith(v)][0]
                a = mod.lora_A["default"].weight
                b = mod.lora_B["default"].weight
                b.copy_(0.1 * torch.randn_like(b))  # B is zero at init; the test needs dA != 0
                lora_params[f"layers.{layer}.{short}.lora_A"] = a
                lora_params[f"layers.{layer}.{short}.lora_B"] = b
    emb = pm.get_input_embeddings().weight
    emb.requires_grad_(True)
    head = pm.get_output_embeddings().weight
    tied = bool(cfg.tie_word_embeddings)
    if not tied:
        head.requires_grad_(True)

    V = cfg.vocab_size
    g = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, V, (BATCH, SEQ), generator=g)
    tokens[0, 3] = V - 1  # make sure new rows are used as inputs
    tokens[1, 5] = V - 3
    labels = torch.randint(0, V, (BATCH, SEQ), generator=g)
    labels[0, :4] = -1  # prompt tokens are not trained
    labels[1, :2] = -1
    labels[1, -1] = -1
    labels[0, 6] = V - 2  # and as targets
    logits = pm(input_ids=tokens).logits
    valid = (labels != -1).sum()
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V).float(), labels.reshape(-1),
                                             ignore_index=-1, reduction="sum") / valid
    loss.backward()

    out["tokens"] = tokens.to(torch.int32)
    out["labels"] = labels.to(torch.int32)
    out["logits"] = logits.detach().float()
    out["loss"] = loss.detach().reshape(1).float()
    for k, p in lora_params.items():
        out[k] = p.detach().clone()
        out["grad." + k] = p.grad.detach().clone()
    out["grad.new_embed"] = emb.grad[V - N_NEW:].clone()
    if not tied:
        out["grad.new_head"] = head.grad[V - N_NEW:].clone()
    meta = {"n_new": str(N_NEW), "rank": str(rank), "alpha": repr(alpha), "rslora": str(int(rslora)),
            "targets": ",".join(targets), "batch": str(BATCH), "seq": str(SEQ),
            "made_with": f"torch {torch.__version__}, transformers {transformers.__version__}, "
                         f"peft {peft.__version__}"}
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(d, "expected.safetensors"), metadata=meta)
    print(name, "loss", float(loss), "valid", int(valid))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/llama"
    torch.set_default_dtype(torch.float32)
    for i, f in enumerate(FIXTURES):
        make(outdir, *f, seed=1234 + 17 * i)
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__,
                      "peft": peft.__version__}))


if __name__ == "__main__":
    main()
