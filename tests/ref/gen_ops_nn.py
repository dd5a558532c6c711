"""PyTorch goldens for tests/test_ops_nn.c -> tests/ref/ops_nn_ref.h.

Inputs are float32 values (drawn with a fixed seed); references are computed by torch in float64
from those exact values, so the C test measures only tinytrain's own float32 rounding.
Every gradient is d(sum(out * g))/d(input) for a fixed random upstream gradient g.
Run: python3 tests/ref/gen_ops_nn.py > tests/ref/ops_nn_ref.h
"""
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
out = []


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    body = ", ".join("%.9g" % x for x in v)
    out.append("static const float %s[%d] = {%s};" % (name, max(len(v), 1), body if v else "0"))


def rnd(*shape, lo=-2.0, hi=2.0):
    """float32 values, returned as float64 leaves that require grad."""
    x = (torch.rand(*shape) * (hi - lo) + lo).float()
    return x.double().requires_grad_(True)


def grads(y, inputs, names, prefix):
    g = torch.randn(y.shape).float().double()
    emit(prefix + "_gy", g)
    gs = torch.autograd.grad((y * g).sum(), inputs)
    for n, gr in zip(names, gs):
        emit(prefix + "_d" + n, gr)


# ---- batchnorm (4, 3, 5), two training steps with running stats, then eval ----
x1, x2 = rnd(4, 3, 5), rnd(4, 3, 5, lo=-1, hi=3)
w, b = rnd(3, lo=0.5, hi=1.5), rnd(3)
rm = torch.rand(3).float().double() - 0.5
rv = torch.rand(3).float().double() + 0.5
for n, t in (("bn_x1", x1), ("bn_x2", x2), ("bn_w", w), ("bn_b", b), ("bn_rm0", rm), ("bn_rv0", rv)):
    emit(n, t)
y1 = F.batch_norm(x1, rm, rv, w, b, training=True)  # momentum 0.1, eps 1e-5 (defaults)
emit("bn_y1", y1)
emit("bn_rm1", rm)
emit("bn_rv1", rv)
grads(y1, (x1, w, b), ("x", "w", "b"), "bn1")
y2 = F.batch_norm(x2, rm, rv, w, b, training=True)
emit("bn_y2", y2)
emit("bn_rm2", rm)
emit("bn_rv2", rv)
ye = F.batch_norm(x2, rm, rv, w, b, training=False)
emit("bn_ye", ye)
grads(ye, (x2, w, b), ("x", "w", "b"), "bne")

# ---- batchnorm (6, 4), no affine, momentum 0.3, eps 1e-3 ----
x = rnd(6, 4)
rm2 = torch.zeros(4, dtype=torch.float64)
rv2 = torch.ones(4, dtype=torch.float64)
emit("bn2_x", x)
y = F.batch_norm(x, rm2, rv2, None, None, training=True, momentum=0.3, eps=1e-3)
emit("bn2_y", y)
emit("bn2_rm", rm2)
emit("bn2_rv", rv2)
grads(y, (x,), ("x",), "bn2")

# ---- layernorm (3, 4, 5) over the last 2 dims, affine ----
x, w, b = rnd(3, 4, 5), rnd(4, 5, lo=0.5, hi=1.5), rnd(4, 5)
for n, t in (("ln_x", x), ("ln_w", w), ("ln_b", b)):
    emit(n, t)
y = F.layer_norm(x, (4, 5), w, b, eps=1e-5)
emit("ln_y", y)
grads(y, (x, w, b), ("x", "w", "b"), "ln")

# ---- layernorm (5, 7) over the last dim, no affine ----
x = rnd(5, 7, lo=-3, hi=5)
emit("ln2_x", x)
y = F.layer_norm(x, (7,), None, None, eps=1e-5)
emit("ln2_y", y)
grads(y, (x,), ("x",), "ln2")

# ---- groupnorm (2, 6, 3, 2), 3 groups, affine ----
x, w, b = rnd(2, 6, 3, 2), rnd(6, lo=0.5, hi=1.5), rnd(6)
for n, t in (("gn_x", x), ("gn_w", w), ("gn_b", b)):
    emit(n, t)
y = F.group_norm(x, 3, w, b, eps=1e-5)
emit("gn_y", y)
grads(y, (x, w, b), ("x", "w", "b"), "gn")

# ---- rmsnorm (3, 4, 7), weight, default eps (finfo(float32).eps, as tinytrain's eps 0) ----
x, w = rnd(3, 4, 7), rnd(7, lo=0.5, hi=1.5)
emit("rms_x", x)
emit("rms_w", w)
y = F.rms_norm(x, (7,), w, eps=torch.finfo(torch.float32).eps)
emit("rms_y", y)
grads(y, (x, w), ("x", "w"), "rms")

# ---- attention: (causal, T, S, D, Dv, scale) with B = 2, H = 2 ----
att = [(1, 3, 5, 4, 3, None), (1, 5, 3, 4, 2, 0.7), (0, 4, 4, 6, 5, None)]
for i, (causal, T, S, D, Dv, scale) in enumerate(att):
    q, k, v = rnd(2, 2, T, D), rnd(2, 2, S, D), rnd(2, 2, S, Dv)
    p = "at%d" % i
    for n, t in (("_q", q), ("_k", k), ("_v", v)):
        emit(p + n, t)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal), scale=scale)
    emit(p + "_y", y)
    grads(y, (q, k, v), ("q", "k", "v"), p)

# ---- LSTM cell B=3, I=5, H=4 ----
B, I, H = 3, 5, 4
x, h, c = rnd(B, I), rnd(B, H, lo=-1, hi=1), rnd(B, H, lo=-1, hi=1)
wih, whh, bih, bhh = rnd(4 * H, I, lo=-.6, hi=.6), rnd(4 * H, H, lo=-.6, hi=.6), rnd(4 * H, lo=-.5, hi=.5), rnd(4 * H, lo=-.5, hi=.5)
ins = (x, h, c, wih, whh, bih, bhh)
names = ("x", "h", "c", "wih", "whh", "bih", "bhh")
for n, t in zip(names, ins):
    emit("lstm_" + n, t)
h1, c1 = torch._VF.lstm_cell(x, (h, c), wih, whh, bih, bhh)
emit("lstm_h1", h1)
emit("lstm_c1", c1)
gh, gc = torch.randn(B, H).float().double(), torch.randn(B, H).float().double()
emit("lstm_gh", gh)
emit("lstm_gc", gc)
gs = torch.autograd.grad((h1 * gh).sum() + (c1 * gc).sum(), ins)
for n, gr in zip(names, gs):
    emit("lstm_d" + n, gr)

# ---- GRU cell B=3, I=5, H=4 ----
x, h = rnd(B, I), rnd(B, H, lo=-1, hi=1)
wih, whh, bih, bhh = rnd(3 * H, I, lo=-.6, hi=.6), rnd(3 * H, H, lo=-.6, hi=.6), rnd(3 * H, lo=-.5, hi=.5), rnd(3 * H, lo=-.5, hi=.5)
ins = (x, h, wih, whh, bih, bhh)
names = ("x", "h", "wih", "whh", "bih", "bhh")
for n, t in zip(names, ins):
    emit("gru_" + n, t)
h1 = torch._VF.gru_cell(x, h, wih, whh, bih, bhh)
emit("gru_h1", h1)
grads(h1, ins, names, "gru")

print("/* Generated by tests/ref/gen_ops_nn.py (PyTorch %s, references in float64). Do not edit. */" % torch.__version__)
print("#ifndef OPS_NN_REF_H\n#define OPS_NN_REF_H")
print("\n".join(out))
print("#endif")
