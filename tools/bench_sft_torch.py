#!/usr/bin/env python3
"""The SFT update of bench/bench_sft.c in PyTorch (transformers + peft), on exactly the same batch.

bench_sft writes the batch it times (BATCH.json: the packed tokens, per-example positions, segment
ids and shifted labels of the job's first micro-batch, and the LoRA settings); this script builds
SmolLM2-135M's shape (dim 576, ffn 1536, 30 layers, 9 heads, 3 KV heads, tied embeddings, the
batch's vocabulary with its new motion-token rows) with random weights — which times the same as
the real ones — applies LoRA with peft on q, k, v, o, gate, up, down (the batch's rank, alpha,
dropout), keeps the new rows as a trainable tensor of their own (frozen rows get no gradient), and
times forward + masked cross-entropy + backward + clipping + AdamW (two groups) on the batch. The
packing is honoured as the job does it: position_ids restart per example, and a 4-D block-diagonal
causal mask keeps each example to itself (transformers takes such a mask as given).

    /work/venv-llama/bin/python tools/bench_sft_torch.py BATCH.json [steps=3] [fp32|bf16]

bf16: the forward under torch.autocast("cpu", dtype=torch.bfloat16); weights, gradients and the
optimizer stay float32. Threads: OMP_NUM_THREADS (default every core). Prints tokens/s over the
batch's real tokens and the process's peak resident memory.

Needs torch, transformers and peft (not part of the build or of CI).
"""
import contextlib
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_llm_torch import smollm2_lora  # noqa: E402  the same model, LoRA and new rows


def main():
    path = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    bf16 = len(sys.argv) > 3 and sys.argv[3] == "bf16"
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    b = json.load(open(path))
    B, T, V, v0 = b["B"], b["T"], b["vocab"], b["v0"]
    tok = torch.tensor(b["tokens"]).view(B, T)
    pos = torch.tensor(b["pos"]).view(B, T)
    seg = torch.tensor(b["seg"]).view(B, T)
    labels = torch.tensor(b["labels"]).view(B, T)
    labels = torch.where(labels < 0, torch.full_like(labels, -100), labels)
    n_valid = int((labels != -100).sum())
    # Block-diagonal causal mask, inverted form (0 attends, -inf does not); an empty slot sees itself.
    same = seg.unsqueeze(2) == seg.unsqueeze(1)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = (same & causal) | torch.eye(T, dtype=torch.bool)
    mask = torch.zeros(B, 1, T, T)
    mask.masked_fill_(~allowed.unsqueeze(1), torch.finfo(torch.float32).min)

    body, embed, head, lora_params, new, opt = smollm2_lora(V, v0, b["rank"], b["alpha"], b["dropout"], "sdpa")

    body.train()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {B} x {T}, {b['examples']} examples, "
          f"{b['real_tokens']} tokens, {n_valid} trained, LoRA r {b['rank']} dropout {b['dropout']}, "
          f"{'bf16 autocast' if bf16 else 'float32'}")
    times, cpus = [], []
    for s in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        with autocast():
            h = body(inputs_embeds=embed(tok), position_ids=pos, attention_mask=mask).last_hidden_state
            logits = head(h)
        loss = F.cross_entropy(logits.float().view(-1, V), labels.view(-1), reduction="sum") / n_valid
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora_params + [new], 1.0)
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(f"step {s}: {dt:.3f} s ({dc:.3f} CPU s), loss {loss.item():.4f}{' (warm-up)' if s == 0 else ''}")
        if s:
            times.append(dt)
            cpus.append(dc)
    n, th = b["real_tokens"], torch.get_num_threads()
    print(f"training: best {min(times):.3f} s, mean {sum(times) / len(times):.3f} s: {n / min(times):.0f} tokens/s "
          f"wall, {n * th / min(cpus):.0f} tokens/s per CPU time x {th}")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
