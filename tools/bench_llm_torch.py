#!/usr/bin/env python3
"""The LoRA training step of bench/bench_llm.c in PyTorch (transformers + peft), for comparing
tokens/s on the same shapes and machine.

Same model and batch as bench_llm: SmolLM2-135M's shape (dim 576, ffn 1536, 30 layers, 9 heads,
3 KV heads, vocabulary 49152 + 514 new rows, tied embeddings) with random weights; LoRA r=16,
alpha 32, dropout 0 on q, k, v, o, gate, up, down (peft); the new rows are a trainable tensor of
their own (input and output rows, as tied models use them) and the frozen rows get no gradient;
every position a trained label; masked cross-entropy summed and divided by the valid count;
clip_grad_norm_(1.0); AdamW with two parameter groups. float32 on the CPU with OMP_NUM_THREADS
threads (default: every core). Also prefill (B prompts of T tokens, last-token logits) and 16
decode steps through transformers' KV cache, as bench_llm does through infer/kv_cache.

    /work/venv-llama/bin/python tools/bench_llm_torch.py [B=4] [T=256] [steps=3] [fp32|bf16]

bf16: the forward passes (training and generation) under torch.autocast("cpu", dtype=torch.bfloat16),
PyTorch's best CPU setting where the CPU has AVX512-BF16 or AMX; weights, gradients and the optimizer
stay float32.

Needs torch, transformers and peft (not part of the build or of CI).
"""
import contextlib
import os
import sys
import time

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

N_NEW = 514
DECODE_STEPS = 16


def smollm2_lora(vocab, v0, rank, alpha, dropout, attn=None):
    """SmolLM2-135M's shape with random weights, LoRA (peft) on the seven projections, and the rows
    from v0 on as a trainable tensor of their own (input and output rows, as tied models use them;
    the frozen rows get no weight gradient). Returns (body, embed, head, lora_params, new, opt):
    the LlamaModel with LoRA, the embedding and output functions, the two parameter groups and
    AdamW over them."""
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000.0,
                      max_position_embeddings=8192, tie_word_embeddings=True, **({"attn_implementation": attn} if attn else {}))
    base = LlamaForCausalLM(cfg)
    lcfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(base, lcfg)
    body = model.base_model.model.model  # LlamaModel with LoRA layers injected
    W = base.model.embed_tokens.weight  # frozen (peft froze it)
    new = torch.nn.Parameter(W[v0:].detach().clone())
    lora_params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": lora_params, "lr": 2e-4, "weight_decay": 0.0},
                             {"params": [new], "lr": 2e-4, "weight_decay": 0.0}], betas=(0.9, 0.999), eps=1e-8)
    W0 = W[:v0]

    def embed(ids):
        e = F.embedding(ids.clamp(max=v0 - 1), W0)
        return torch.where((ids >= v0).unsqueeze(-1), F.embedding((ids - v0).clamp(min=0), new), e)

    def head(h):
        return torch.cat([h @ W0.t(), h @ new.t()], dim=-1)

    return body, embed, head, lora_params, new, opt


def main():
    B, T, steps = (int(a) for a in (sys.argv[1:] + ["4", "256", "3"][len(sys.argv) - 1:])[:3])
    bf16 = len(sys.argv) > 4 and sys.argv[4] == "bf16"
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    v0 = 49152
    body, embed, head, lora_params, new, opt = smollm2_lora(v0 + N_NEW, v0, 16, 32, 0.0)

    tok = torch.randint(0, v0 + N_NEW, (B, T))
    labels = torch.cat([tok[:, 1:], torch.randint(0, v0 + N_NEW, (B, 1))], dim=1)
    n_valid = int((labels != -100).sum())
    trainable = sum(p.numel() for p in lora_params)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B {B}, T {T}, LoRA parameters {trainable}, "
          f"new rows {new.numel()}, {'bf16 autocast' if bf16 else 'float32'}")
    times, cpus = [], []
    for s in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        with autocast():
            h = body(inputs_embeds=embed(tok)).last_hidden_state
            logits = head(h)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), reduction="sum") / n_valid
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora_params + [new], 1.0)
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"step {s}: {dt:.3f} s ({dc:.3f} CPU s), loss {loss.item():.4f}{' (warm-up)' if s == 0 else ''}")
        if s:
            times.append(dt)
            cpus.append(dc)
    n = B * T
    th = torch.get_num_threads()
    print(f"training: best {min(times):.3f} s, mean {sum(times) / len(times):.3f} s: {n / min(times):.0f} tokens/s wall, "
          f"{n * th / min(cpus):.0f} tokens/s per CPU time x {th}")

    with torch.no_grad(), autocast():
        best, best_cpu = 1e30, 1e30
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            out = body(inputs_embeds=embed(tok), use_cache=True)
            head(out.last_hidden_state[:, -1])
            best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        past = out.past_key_values
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(DECODE_STEPS):
            out = body(inputs_embeds=embed(tok[:, k % T:k % T + 1]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            head(out.last_hidden_state[:, -1])
        dec, dec_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"prefill: {B} x {T} tokens in {best:.3f} s: {n / best:.0f} tokens/s wall, "
          f"{n * th / best_cpu:.0f} per CPU time x {th}")
    print(f"decode: {DECODE_STEPS} steps of {B} sequences: {1e3 * dec / DECODE_STEPS:.1f} ms per step, "
          f"{B * DECODE_STEPS / dec:.0f} tokens/s wall, {B * DECODE_STEPS * th / dec_cpu:.0f} per CPU time x {th}")


if __name__ == "__main__":
    main()
