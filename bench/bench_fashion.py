#!/usr/bin/env python3
"""One training epoch of the Fashion-MNIST examples, tinytrain (bench/bench_fashion.c, the
examples' own code) against PyTorch with the same model, optimizer (Adam, lr 1e-3, torch's
defaults), batch size (64), shuffling each epoch, uint8 images scaled to [0, 1] per batch, and
thread count. Only the training loop is timed (55,000 images; no evaluation, no loading).

Usage: bench_fashion.py path/to/bench_fashion [threads] [models]   (models: "mlp cnn")
Prints one line per model:
  BENCH {"name": "fashion_<model>_epoch_t<threads>", "ours": ..., "ref": ..., "ratio": ours/ref, "unit": "samples/s"}
or "SKIP ..." (and exits 0) when the data set or torch is missing."""
import gzip, json, os, subprocess, sys, time

DIRS = [os.environ.get("FASHION_MNIST_DIR"), "/usr/share/datasets/fashion-mnist", "data"]


def find(name):
    for d in DIRS:
        if not d:
            continue
        for ext in (".gz", ""):
            p = os.path.join(d, name + ext)
            if os.path.exists(p):
                return p
    return None


def load(name, offset):
    p = find(name)
    op = gzip.open if p.endswith(".gz") else open
    with op(p, "rb") as f:
        return f.read()[offset:]


def torch_epoch(model_name, threads):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.from_numpy(np.frombuffer(load("train-images-idx3-ubyte", 16), dtype=np.uint8).copy()).view(60000, 1, 28, 28)
    y = torch.from_numpy(np.frombuffer(load("train-labels-idx1-ubyte", 8), dtype=np.uint8).astype(np.int64))
    x, y = x[:55000], y[:55000]
    if model_name == "mlp":
        x = x.view(55000, 784)
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    perm = torch.randperm(55000)
    for s in range(0, 55000, 64):
        idx = perm[s:s + 64]
        xb = x[idx].float().div_(255.0)
        loss = F.cross_entropy(model(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 55000 / (time.perf_counter() - t0)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/bench_fashion"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    models = sys.argv[3].split() if len(sys.argv) > 3 else ["mlp", "cnn"]
    if not all(find(n) for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")):
        print("SKIP bench fashion: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
        return
    try:
        import torch  # noqa: F401
        import numpy  # noqa: F401
    except ImportError:
        print("SKIP bench fashion: python3 with torch and numpy not available")
        return
    for m in models:
        out = subprocess.run([binary, m, str(threads)], stdout=subprocess.PIPE, text=True, check=True).stdout
        ours = next((float(l.split()[3]) for l in out.splitlines() if l.startswith("RESULT")), None)
        if ours is None:
            print(out.strip())
            continue
        ref = torch_epoch(m, threads)
        print("BENCH " + json.dumps({"name": "fashion_%s_epoch_t%d" % (m, threads), "ours": round(ours, 1),
                                     "ref": round(ref, 1), "ratio": round(ours / ref, 3), "unit": "samples/s"}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
