#!/usr/bin/env python3
"""Training-step benchmark, PyTorch side (CPU, float32). Same cases and shapes as
bench/bench_train.c; `make bench-train` runs both alternately (bench/bench_train.sh).

Usage: bench_train_torch.py [--gpu] [threads [seconds [case]]]
--gpu: model and data on CUDA (eager); every step ends with loss.item() (one synchronisation),
as bench_train --gpu reads its loss.
Prints "RESULT <case> <threads> <steps/s>" per case. A step: zero_grad, forward, loss, backward,
optimizer step (foreach implementation, torch's CPU default). Exits 3 if torch is missing.
"""
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("SKIP torch not available")
    sys.exit(3)

MB, CB, TB, T, C, H, V = 64, 32, 8, 64, 128, 4, 256


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.bn = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.c2, self.fc = nn.Conv2d(16, 32, 3, padding=1), nn.Linear(32, 10)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn(self.c1(x))), 2)
        h = F.relu(self.c2(h))
        return self.fc(h.mean(dim=(2, 3)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(V, C), nn.Parameter(torch.randn(T, C))
        self.ln1, self.ln2, self.lnf = nn.LayerNorm(C), nn.LayerNorm(C), nn.LayerNorm(C)
        self.q, self.k, self.v, self.proj = (nn.Linear(C, C) for _ in range(4))
        self.fc, self.fc2, self.head = nn.Linear(C, 4 * C), nn.Linear(4 * C, C), nn.Linear(C, V)

    def heads(self, t):
        return t.view(TB, T, H, C // H).transpose(1, 2)

    def forward(self, ids):
        x = (self.tok(ids) + self.pos).view(TB * T, C)
        h = self.ln1(x)
        a = F.scaled_dot_product_attention(self.heads(self.q(h)), self.heads(self.k(h)),
                                           self.heads(self.v(h)), is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(TB * T, C))
        x = x + self.fc2(F.gelu(self.fc(self.ln2(x))))
        return self.head(self.lnf(x))


def setup(name, dev):
    torch.manual_seed(1)
    if name.startswith("mlp"):
        m, x, y = MLP(), torch.randn(MB, 784), torch.randint(0, 10, (MB,))
    elif name == "cnn":
        m, x, y = CNN(), torch.randn(CB, 1, 28, 28), torch.randint(0, 10, (CB,))
    else:
        m, x, y = Block(), torch.randint(0, V, (TB, T)), torch.randint(0, V, (TB * T,))
    if name in ("mlp_adamw", "tf"):
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    else:
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
    m.to(dev)
    m.train()
    return m, x.to(dev), y.to(dev), opt


def main():
    gpu = len(sys.argv) > 1 and sys.argv[1] == "--gpu"
    args = sys.argv[2:] if gpu else sys.argv[1:]
    threads = int(args[0]) if len(args) > 0 else 1
    seconds = float(args[1]) if len(args) > 1 else 1.0
    only = args[2] if len(args) > 2 else None
    if gpu and not torch.cuda.is_available():
        print("SKIP torch: no CUDA device")
        sys.exit(3)
    dev = torch.device("cuda" if gpu else "cpu")
    torch.set_num_threads(threads)
    for name in ("mlp_sgdm", "mlp_adamw", "cnn", "tf"):
        if only and name != only:
            continue
        m, x, y, opt = setup(name, dev)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            if gpu:
                loss.item()

        for _ in range(3):
            step()
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            t = time.perf_counter() - t0
            if t >= seconds and n >= 3:
                break
        print(f"RESULT {name} {threads} {n / t:.3f}", flush=True)


if __name__ == "__main__":
    main()
