#!/usr/bin/env python3
"""PyTorch goldens for the ops_math area of tinytrain.

Writes tests/ref/ops_math_ref.h: for every case the input(s), a fixed upstream gradient gy, the
forward output of torch (float32, CPU) and the input gradients d(sum(gy * y))/d(input).
Run from the repository root:  python3 tests/ref/gen_ops_math.py
"""
import math
import os
import warnings
import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
warnings.simplefilter("ignore")  # var() with dof <= 0 is meant
np.seterr(all="ignore")
rng = np.random.default_rng(1234)
F32 = np.float32

# unary inputs: kinks (0), small and large magnitudes (+-30 for sigmoid/softplus/...)
UX = [-30.0, -10.0, -3.0, -1.5, -1.0, -0.7, -0.1, 0.0, 0.05, 0.3, 0.5, 1.0, 2.5, 4.0, 10.0, 30.0]
POS = [0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.7, 10.0, 30.0]

cases = []  # dicts: name, fn, a, b (or None), p0, p1, i0, i1, i2


def unary(name, fn, x=UX, p0=0.0, p1=0.0):
    cases.append(dict(name=name, fn=fn, a=np.array(x, F32), b=None, p=(p0, p1), i=(0, 0, 0)))


unary("neg", lambda x: -x)
unary("scale", lambda x: 2.5 * x, p0=2.5)
unary("add_scalar", lambda x: x + (-1.25), p0=-1.25)
for p in (2.0, 3.0, 0.5, -1.5, 0.0, 1.0):
    unary("pow_scalar", lambda x, p=p: x ** p, POS, p0=p)
unary("pow_scalar", lambda x: x ** 3.0, UX[1:-1], p0=3.0)  # negative bases, integer exponent
unary("exp", torch.exp, UX)
unary("log", torch.log, POS)
unary("sqrt", torch.sqrt, POS)
unary("abs", torch.abs)
for lo, hi in ((-1.0, 2.0), (-math.inf, 0.5), (0.3, math.inf), (1.0, -1.0)):
    unary("clamp", lambda x, lo=lo, hi=hi: torch.clamp(x, lo, hi), UX + [2.0, -1.0, 0.3], lo, hi)
for s in (0.01, 0.2):
    unary("leaky_relu", lambda x, s=s: F.leaky_relu(x, s), p0=s)
for a in (1.0, 0.5):
    unary("elu", lambda x, a=a: F.elu(x, a), p0=a)
unary("selu", F.selu)
unary("gelu", F.gelu)
unary("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"))
unary("silu", F.silu)
unary("sigmoid", torch.sigmoid)
unary("tanh", torch.tanh)
for beta, thr in ((1.0, 20.0), (2.0, 5.0), (0.5, 20.0)):
    unary("softplus", lambda x, b=beta, t=thr: F.softplus(x, b, t), UX + [2.5, 2.6], beta, thr)
unary("softsign", F.softsign)
for lo, hi in ((-1.0, 1.0), (-2.0, 0.5)):
    unary("hardtanh", lambda x, lo=lo, hi=hi: F.hardtanh(x, lo, hi), UX + [-2.0, 0.5], lo, hi)
unary("mish", F.mish)


def rnd(shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape).astype(F32)


def binary(name, fn, a, b):
    cases.append(dict(name=name, fn=fn, a=a, b=b, p=(0.0, 0.0), i=(0, 0, 0)))


for sa, sb in (((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((1,), (2, 3)), ((), (5,))):
    binary("sub", torch.sub, rnd(sa), rnd(sb))
    b = rnd(sb, 0.5, 2.0) * np.where(rng.uniform(size=sb) < 0.5, -1, 1).astype(F32)
    binary("div", torch.div, rnd(sa), b)
    binary("pow", torch.pow, rnd(sa, 0.2, 3.0), rnd(sb, -2.0, 2.5))
    a, b = np.round(rnd(sa)), np.round(rnd(sb))  # rounded: many ties
    binary("maximum", torch.maximum, a, b)
    binary("minimum", torch.minimum, a, b)
binary("pow", torch.pow, np.array([0.0, 0.0, 0.0, 2.0, 4.0], F32), np.array([0.0, 1.0, 2.5, 0.0, -0.5], F32))


def red(name, fn, a, i0=0, i1=0, i2=0):
    cases.append(dict(name=name, fn=fn, a=a, b=None, p=(0.0, 0.0), i=(i0, i1, i2)))


X3 = rnd((2, 3, 4))
T3 = np.round(rnd((2, 3, 5)))  # ties for max/min/argmax
for x in (X3, rnd((5,)), rnd((1, 7))):
    red("sum", torch.sum, x)
    red("mean", torch.mean, x)
    for c in (0, 1, 2):
        red("var", lambda t, c=c: torch.var(t, correction=c), x, c)
    nd = x.ndim
    for ax in range(-nd, nd):
        for kd in (0, 1):
            red("sum_axis", lambda t, ax=ax, kd=kd: torch.sum(t, ax, keepdim=bool(kd)), x, ax, kd)
            red("mean_axis", lambda t, ax=ax, kd=kd: torch.mean(t, ax, keepdim=bool(kd)), x, ax, kd)
            for c in (0, 1):
                red("var_axis", lambda t, ax=ax, kd=kd, c=c: torch.var(t, ax, correction=c, keepdim=bool(kd)), x, ax, kd, c)
for x in (T3, X3, np.array([1.0, 3.0, 3.0, -2.0, 3.0], F32)):
    red("max", torch.max, x)
    red("min", torch.min, x)
    for ax in range(-x.ndim, x.ndim):
        for kd in (0, 1):
            red("max_axis", lambda t, ax=ax, kd=kd: torch.max(t, ax, keepdim=bool(kd))[0], x, ax, kd)
            red("min_axis", lambda t, ax=ax, kd=kd: torch.min(t, ax, keepdim=bool(kd))[0], x, ax, kd)
            red("argmax", lambda t, ax=ax, kd=kd: torch.argmax(t, ax, keepdim=bool(kd)).float(), x, ax, kd)
S3 = rnd((2, 3, 4), -3.0, 3.0)
S3[0, 0, :] = [30.0, -30.0, 29.0, 0.5]       # large logits
S3[1, 2, :] = [-100.0, 100.0, 100.0, -30.0]  # ties at the max, huge spread
for x in (S3, rnd((7,)), np.array([[30.0, -30.0, 0.0]], F32)):
    for ax in range(-x.ndim, x.ndim):
        red("softmax", lambda t, ax=ax: torch.softmax(t, ax), x, ax)
        red("log_softmax", lambda t, ax=ax: torch.log_softmax(t, ax), x, ax)


def run(case, dtype):
    a = torch.tensor(case["a"], dtype=dtype, requires_grad=True)
    b = None if case["b"] is None else torch.tensor(case["b"], dtype=dtype, requires_grad=True)
    y = case["fn"](a) if b is None else case["fn"](a, b)
    return a, b, y


data = []


def put(arr):
    off = len(data)
    data.extend(np.asarray(arr, F32).reshape(-1).tolist())
    return off


def fmt(v):
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = "%.9g" % v
    if "e" not in s and "." not in s:
        s += ".0"
    return s + "f"


rows = []
worst = {}
for c in cases:
    a, b, y = run(c, torch.float32)
    gy = rng.standard_normal(tuple(y.shape)).astype(F32)
    if y.requires_grad:
        y.backward(torch.tensor(gy))
    ga = a.grad if a.grad is not None else torch.zeros_like(a)
    gb = None if b is None else (b.grad if b.grad is not None else torch.zeros_like(b))
    # deviation of torch float32 from the same formula in float64 (tolerance justification)
    a64, b64, y64 = run(c, torch.float64)
    if y64.requires_grad:
        y64.backward(torch.tensor(gy, dtype=torch.float64))
    pairs = [(y.detach().numpy(), y64.detach().numpy())]
    if a64.grad is not None:
        pairs.append((ga.numpy(), a64.grad.numpy()))
    for p32, p64 in pairs:
        p32 = p32.astype(np.float64)
        ok = np.isfinite(p64) & np.isfinite(p32)
        if ok.any():
            e = (np.abs(p32 - p64)[ok] - 1e-7) / np.maximum(np.abs(p64[ok]), 1e-30)
            worst[c["name"]] = max(worst.get(c["name"], -1.0), float(e.max()))
    shp = lambda t: list(t.shape) if t is not None else []
    row = dict(name=c["name"], sa=shp(a), oa=put(c["a"]), sb=shp(b),
               ob=put(c["b"]) if b is not None else 0, p=c["p"], i=c["i"], sy=list(y.shape),
               oy=put(y.detach().numpy()), ogy=put(gy), oga=put(ga.numpy()),
               ogb=put(gb.numpy()) if gb is not None else 0)
    rows.append(row)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops_math_ref.h")
with open(out, "w") as f:
    f.write("/* Generated by tests/ref/gen_ops_math.py with torch %s: do not edit. */\n" % torch.__version__)
    f.write("#ifndef OPS_MATH_REF_H\n#define OPS_MATH_REF_H\n#include <math.h>\n\n")
    f.write("typedef struct ops_math_ref_case {\n    const char *name;\n    int ndim_a, shape_a[4], off_a;\n"
            "    int ndim_b, shape_b[4], off_b; /* ndim_b -1: unary / reduction */\n"
            "    float p0, p1;                  /* float parameters */\n"
            "    int i0, i1, i2;                /* axis, keepdim, correction (var: i0 = correction) */\n"
            "    int ndim_y, shape_y[4], off_y, off_gy, off_ga, off_gb;\n} ops_math_ref_case;\n\n")
    f.write("static const float ops_math_ref_data[%d] = {\n" % len(data))
    for k in range(0, len(data), 8):
        f.write("    " + ", ".join(fmt(v) for v in data[k:k + 8]) + ",\n")
    f.write("};\n\n")
    f.write("static const ops_math_ref_case ops_math_ref_cases[%d] = {\n" % len(rows))

    def sh(s):
        s = list(s) + [0] * (4 - len(s))
        return "{%s}" % ", ".join(str(v) for v in s)

    for r in rows:
        nb = -1 if r["name"] not in ("sub", "div", "pow", "maximum", "minimum") else len(r["sb"])
        f.write('    {"%s", %d, %s, %d, %d, %s, %d, %s, %s, %d, %d, %d, %d, %s, %d, %d, %d, %d},\n' % (
            r["name"], len(r["sa"]), sh(r["sa"]), r["oa"], nb, sh(r["sb"]), r["ob"], fmt(r["p"][0]), fmt(r["p"][1]),
            r["i"][0], r["i"][1], r["i"][2], len(r["sy"]), sh(r["sy"]), r["oy"], r["ogy"], r["oga"], r["ogb"]))
    f.write("};\n\n#endif\n")
print("wrote %s: %d cases, %d floats" % (out, len(rows), len(data)))
print("worst (|torch32 - torch64| - 1e-7) / |torch64| per op:")
for k in sorted(worst):
    print("  %-12s %.3g" % (k, worst[k]))
