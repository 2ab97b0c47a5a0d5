#!/usr/bin/env python3
"""The VQ-VAE training step of bench/bench_vq.c in PyTorch, for comparing step times.

Same model and batch as bench_vq (T2M-GPT's layout: Zhang et al. 2023, models/encdec.py,
resnet.py and quantize_cnn.py of the T2M-GPT repository, re-written here): width 512, depth 3,
dilation growth 3, 2 down-samplings, 512 codes of 512, EMA quantizer with dead-code reset,
smooth-L1 reconstruction + joint-position term + commitment loss, AdamW(lr 2e-4, betas 0.9/0.99).
float32 on the CPU with OMP_NUM_THREADS threads (default: every core).

    python3 tools/bench_vq_torch.py [B=256] [T=64] [in_dim=107] [steps=3]

Needs torch (Debian's python3-torch or PyPI's); not part of the build or of CI.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, w, dil):
        super().__init__()
        self.c1 = nn.Conv1d(w, w, 3, 1, dil, dil)
        self.c2 = nn.Conv1d(w, w, 1, 1, 0)

    def forward(self, x):
        return x + self.c2(F.relu(self.c1(F.relu(x))))


def resnet(w, depth, growth):
    dils = [growth ** i for i in range(depth)][::-1]  # 9, 3, 1
    return [ResBlock(w, d) for d in dils]


class VQVAE(nn.Module):
    def __init__(self, cin, w=512, depth=3, growth=3, down=2, K=512, D=512):
        super().__init__()
        enc = [nn.Conv1d(cin, w, 3, 1, 1), nn.ReLU()]
        for _ in range(down):
            enc += [nn.Conv1d(w, w, 4, 2, 1)] + resnet(w, depth, growth)
        enc += [nn.Conv1d(w, D, 3, 1, 1)]
        dec = [nn.Conv1d(D, w, 3, 1, 1), nn.ReLU()]
        for _ in range(down):
            dec += resnet(w, depth, growth) + [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(w, w, 3, 1, 1)]
        dec += [nn.Conv1d(w, w, 3, 1, 1), nn.ReLU(), nn.Conv1d(w, cin, 3, 1, 1)]
        self.enc, self.dec = nn.Sequential(*enc), nn.Sequential(*dec)
        self.K, self.D, self.mu = K, D, 0.99
        self.register_buffer("codebook", torch.zeros(K, D))
        self.register_buffer("ema_sum", torch.zeros(K, D))
        self.register_buffer("ema_count", torch.zeros(K))
        self.ready = False

    def candidates(self, x):
        # K random rows of x; tiled with small noise when the batch has fewer rows (T2M-GPT's _tile)
        if x.shape[0] < self.K:
            reps = (self.K + x.shape[0] - 1) // x.shape[0]
            x = x.repeat(reps, 1) + torch.randn(reps * x.shape[0], self.D) * 0.01 / self.D ** 0.5
        return x[torch.randperm(x.shape[0])[: self.K]]

    @torch.no_grad()
    def ema_update(self, x, idx):
        onehot = F.one_hot(idx, self.K).float()
        count, total = onehot.sum(0), onehot.t() @ x
        rows = self.candidates(x)
        self.ema_sum.mul_(self.mu).add_(total, alpha=1 - self.mu)
        self.ema_count.mul_(self.mu).add_(count, alpha=1 - self.mu)
        used = (self.ema_count >= 1).float().unsqueeze(1)
        upd = self.ema_sum / self.ema_count.clamp(min=1e-7).unsqueeze(1)
        self.codebook.copy_(used * upd + (1 - used) * rows)

    def forward(self, x):  # x: (B, T, C)
        ze = self.enc(x.permute(0, 2, 1))  # (B, D, T')
        flat = ze.permute(0, 2, 1).reshape(-1, self.D)
        if not self.ready:
            self.codebook.copy_(self.candidates(flat.detach()))
            self.ready = True
        dist = (flat ** 2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + (self.codebook ** 2).sum(1)
        idx = dist.argmin(1)
        zq = self.codebook[idx]
        self.ema_update(flat.detach(), idx)
        commit = F.mse_loss(flat, zq.detach())
        zq = flat + (zq - flat).detach()  # straight-through
        out = self.dec(zq.view(ze.shape[0], -1, self.D).permute(0, 2, 1)).permute(0, 2, 1)
        return out, commit


def main():
    args = [int(a) for a in sys.argv[1:]]
    B, T, cin, steps = (args + [256, 64, 107, 3][len(args):])[:4]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(1)
    m = VQVAE(cin)
    opt = torch.optim.AdamW(m.parameters(), lr=2e-4, betas=(0.9, 0.99), weight_decay=0.0)
    x = torch.randn(B, T, cin)
    j0, j1 = (4, 52) if cin >= 52 else (0, cin)
    nparams = sum(p.numel() for p in m.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B {B}, T {T}, in_dim {cin}, "
          f"{nparams} parameters")
    times = []
    for s in range(steps + 1):  # step 0 warms up
        t0 = time.perf_counter()
        out, commit = m(x)
        loss = F.smooth_l1_loss(out, x) + 0.5 * F.smooth_l1_loss(out[..., j0:j1], x[..., j0:j1]) + 0.02 * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        print(f"step {s}: {dt:.3f} s, loss {loss.item():.4f}{' (warm-up)' if s == 0 else ''}")
        if s:
            times.append(dt)
    print(f"best step {min(times):.3f} s, mean {sum(times) / len(times):.3f} s")


if __name__ == "__main__":
    main()
