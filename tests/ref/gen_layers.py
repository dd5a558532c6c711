#!/usr/bin/env python3
"""Layer goldens for tests/test_layers.c -> tests/ref/layers_ref.h

1. Forward: PyTorch modules with the state_dict names the tinytrain layers use, weights perturbed
   away from their defaults, saved in one safetensors blob (the test loads it with strict names,
   which also checks the naming), fixed inputs, and torch's outputs.
2. Default initialisation: sample statistics (min, max, mean, std) of torch's reset_parameters()
   and of torch.nn.init's xavier_normal_, kaiming_uniform_, orthogonal_, trunc_normal_ on large
   tensors; the test compares tinytrain's samples with them.
Run from the repository root: python3 tests/ref/gen_layers.py
"""
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save

REF = os.path.dirname(os.path.abspath(__file__))


class Attn(nn.Module):
    def __init__(self, dim, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Mlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, 4 * dim)
        self.proj = nn.Linear(4 * dim, dim)


class Block(nn.Module):
    def __init__(self, dim, n_head):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = Attn(dim, n_head)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp.proj(F.gelu(self.mlp.fc(self.ln2(x))))


def bits(t):
    return [struct.unpack("<I", struct.pack("<f", float(v)))[0] for v in t.detach().reshape(-1).tolist()]


def c_u32(name, vals):
    return "static const uint32_t %s[%d] = {%s};\n" % (name, len(vals), ",".join("0x%08xu" % v for v in vals))


def c_bytes(name, data):
    rows = ["    " + ",".join("%d" % b for b in data[i:i + 24]) for i in range(0, len(data), 24)]
    return "static const unsigned char %s[%d] = {\n%s};\n" % (name, len(data), ",\n".join(rows))


def main():
    torch.manual_seed(0)
    mods = {
        "lin": nn.Linear(5, 7),
        "conv1": nn.Conv1d(3, 4, 3, stride=2, padding=1),
        "conv2": nn.Conv2d(2, 4, (3, 2), padding=(1, 0), groups=2),
        "bn1": nn.BatchNorm1d(4),
        "bn2": nn.BatchNorm2d(3),
        "ln": nn.LayerNorm(6),
        "gn": nn.GroupNorm(2, 4),
        "rms": nn.RMSNorm(6),
        "emb": nn.Embedding(10, 4),
        "lstm": nn.LSTM(3, 5),
        "gru": nn.GRU(3, 5),
        "attn": Attn(8, 2),
        "blocks.0": Block(8, 2),
    }
    with torch.no_grad():
        for name, m in mods.items():
            for pn, p in m.named_parameters():
                p.add_(0.1 * torch.randn_like(p))
        mods["bn2"].running_mean.copy_(torch.randn(3) * 0.3)
        mods["bn2"].running_var.copy_(torch.rand(3) + 0.5)
        mods["bn2"].num_batches_tracked.fill_(4)
    sd = {}
    for name, m in mods.items():
        for k, v in m.state_dict().items():
            sd[name + "." + k] = v.contiguous()
    blob = save(sd)

    x = {
        "lin": torch.randn(3, 5),
        "conv1": torch.randn(2, 3, 7),
        "conv2": torch.randn(1, 2, 4, 3),
        "bn1": torch.randn(6, 4) * 2 + 1,
        "bn2": torch.randn(2, 3, 4, 4),
        "ln": torch.randn(3, 6),
        "gn": torch.randn(2, 4, 3),
        "rms": torch.randn(3, 6),
        "lstm": torch.randn(4, 2, 3),
        "gru": torch.randn(4, 2, 3),
        "attn": torch.randn(2, 5, 8),
        "blocks.0": torch.randn(2, 5, 8),
    }
    ids = torch.tensor([[1, 9, 0], [3, 3, 7]])
    out = {}
    with torch.no_grad():
        for name in ("lin", "conv1", "conv2", "ln", "gn", "rms", "attn", "blocks.0"):
            out[name] = mods[name](x[name])
        mods["bn1"].train()
        out["bn1"] = mods["bn1"](x["bn1"])
        out["bn1_rm"] = mods["bn1"].running_mean.clone()
        out["bn1_rv"] = mods["bn1"].running_var.clone()
        mods["bn2"].eval()
        out["bn2"] = mods["bn2"](x["bn2"])
        out["emb"] = mods["emb"](ids)
        o, (h, c) = mods["lstm"](x["lstm"])
        out["lstm"], out["lstm_h"], out["lstm_c"] = o, h[0], c[0]
        o, h = mods["gru"](x["gru"])
        out["gru"], out["gru_h"] = o, h[0]

    # default initialisation statistics
    torch.manual_seed(1)
    stats = []

    def st(name, t):
        t = t.detach().reshape(-1).double()
        stats.append((name, [t.min().item(), t.max().item(), t.mean().item(), t.std().item()]))

    st("linear_weight", nn.Linear(256, 128).weight)
    st("linear_bias", nn.Linear(256, 4096).bias)
    st("conv2d_weight", nn.Conv2d(16, 32, 3).weight)
    st("conv1d_weight", nn.Conv1d(8, 64, 5, groups=2).weight)
    st("embedding_weight", nn.Embedding(512, 64).weight)
    st("lstm_weight_hh", nn.LSTM(64, 128).weight_hh_l0)
    st("gru_bias_ih", nn.GRU(16, 1400).bias_ih_l0)
    st("xavier_normal", nn.init.xavier_normal_(torch.empty(256, 128), gain=1.5))
    st("kaiming_uniform", nn.init.kaiming_uniform_(torch.empty(128, 64, 2), a=0, mode="fan_in", nonlinearity="relu"))
    st("kaiming_uniform_out", nn.init.kaiming_uniform_(torch.empty(128, 256), a=0.2, mode="fan_out", nonlinearity="leaky_relu"))
    st("orthogonal", nn.init.orthogonal_(torch.empty(64, 256), gain=2.0))
    st("trunc_normal", nn.init.trunc_normal_(torch.empty(256, 128), mean=0.5, std=1.0, a=-1.0, b=2.0))

    with open(os.path.join(REF, "layers_ref.h"), "w") as f:
        f.write("/* Generated by tests/ref/gen_layers.py (torch %s). Do not edit. */\n#include <stdint.h>\n" % torch.__version__)
        f.write(c_bytes("layers_ref_weights", blob))
        for k, v in x.items():
            f.write(c_u32("layers_ref_x_%s" % k.replace(".", "_"), bits(v)))
        for k, v in out.items():
            f.write(c_u32("layers_ref_out_%s" % k.replace(".", "_"), bits(v)))
        f.write("typedef struct layers_ref_stat { const char *name; double min, max, mean, std; } layers_ref_stat;\n")
        f.write("static const layers_ref_stat layers_ref_stats[%d] = {\n" % len(stats))
        for name, (a, b, c, d) in stats:
            f.write('    {"%s", %.17g, %.17g, %.17g, %.17g},\n' % (name, a, b, c, d))
        f.write("};\n")
    print("wrote layers_ref.h")


if __name__ == "__main__":
    main()
