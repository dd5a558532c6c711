"""Generates tests/ref/ops_conv_ref.h: PyTorch golden values for convolution and pooling.

Run from the repository root:  python3 tests/ref/gen_ops_conv.py
For every case: random input x (and weight w, bias b for convolutions) and a random upstream
gradient gy; stores the forward output y = op(x) and the gradients gx, gw, gb of sum(y * gy).
"""
import torch
import torch.nn.functional as F

torch.manual_seed(1234)

# op codes (must match tests/test_ops_conv.c)
CONV2D, CONV1D, MAXPOOL2D, MAXPOOL1D, AVGPOOL2D, AVGPOOL1D, ADAPTIVE, GLOBAL = range(8)

# name, op, x shape, weight shape (conv) or None, bias?, options
# options: stride, padding, dilation (2 entries: (h, w) or (l, 0)), groups, kernel, ceil, cip_off, out
CASES = [
    ("conv2d_3x3_pad1", CONV2D, (2, 3, 7, 6), (4, 3, 3, 3), True, dict(stride=(1, 1), padding=(1, 1))),
    ("conv2d_stride2_dil_groups2", CONV2D, (1, 4, 9, 8), (6, 2, 3, 2), True,
     dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
    ("conv2d_depthwise_nobias", CONV2D, (2, 4, 8, 7), (8, 1, 3, 3), False,
     dict(stride=(2, 2), padding=(2, 2), dilation=(2, 2), groups=4)),
    ("conv2d_1x1", CONV2D, (2, 5, 4, 5), (3, 5, 1, 1), True, dict()),
    ("conv2d_1x1_stride2", CONV2D, (1, 3, 5, 5), (2, 3, 1, 1), True, dict(stride=(2, 2))),
    ("conv2d_unbatched_5x4", CONV2D, (3, 6, 7), (2, 3, 5, 4), True, dict(padding=(2, 1), stride=(1, 3))),
    ("conv1d_stride2_pad1_dil2", CONV1D, (2, 3, 11), (4, 3, 3), True, dict(stride=(2, 0), padding=(1, 0), dilation=(2, 0))),
    ("conv1d_groups3_nobias", CONV1D, (3, 6, 9), (3, 2, 4), False, dict(padding=(3, 0), groups=3)),
    ("maxpool2d_k3s2p1", MAXPOOL2D, (2, 3, 7, 8), None, False, dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1))),
    ("maxpool2d_k2_ceil", MAXPOOL2D, (1, 2, 5, 7), None, False, dict(kernel=(2, 2), ceil=1)),
    ("maxpool2d_dil2_ceil", MAXPOOL2D, (1, 2, 9, 8), None, False,
     dict(kernel=(3, 2), stride=(2, 3), padding=(1, 1), dilation=(2, 3), ceil=1)),
    ("maxpool1d_ceil_last_window_rule", MAXPOOL1D, (1, 2, 5), None, False,
     dict(kernel=(2, 0), stride=(2, 0), padding=(1, 0), ceil=1)),
    ("maxpool1d_k3s2p1_ceil", MAXPOOL1D, (2, 3, 10), None, False, dict(kernel=(3, 0), stride=(2, 0), padding=(1, 0), ceil=1)),
    ("avgpool2d_k3s2p1", AVGPOOL2D, (2, 3, 7, 8), None, False, dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1))),
    ("avgpool2d_k3s2p1_nopad", AVGPOOL2D, (2, 3, 7, 8), None, False,
     dict(kernel=(3, 3), stride=(2, 2), padding=(1, 1), cip_off=1)),
    ("avgpool2d_ceil_pad", AVGPOOL2D, (1, 2, 6, 7), None, False, dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), ceil=1)),
    ("avgpool2d_ceil_pad_nopad", AVGPOOL2D, (1, 2, 6, 7), None, False,
     dict(kernel=(3, 2), stride=(2, 2), padding=(1, 1), ceil=1, cip_off=1)),
    ("avgpool1d_ceil_last_window_rule", AVGPOOL1D, (1, 2, 5), None, False,
     dict(kernel=(2, 0), stride=(2, 0), padding=(1, 0), ceil=1)),
    ("maxpool2d_unbatched", MAXPOOL2D, (2, 5, 6), None, False, dict(kernel=(2, 3), stride=(1, 2))),
    ("avgpool1d_k4s3p2_ceil", AVGPOOL1D, (2, 2, 11), None, False, dict(kernel=(4, 0), stride=(3, 0), padding=(2, 0), ceil=1)),
    ("adaptive_7x5_to_3x2", ADAPTIVE, (2, 3, 7, 5), None, False, dict(out=(3, 2))),
    ("adaptive_4x3_to_5x6", ADAPTIVE, (1, 2, 4, 3), None, False, dict(out=(5, 6))),
    ("global_avg", GLOBAL, (2, 3, 5, 7), None, False, dict()),
]


def run(op, x, w, b, o):
    s, p, d = o.get("stride", (1, 1)), o.get("padding", (0, 0)), o.get("dilation", (1, 1))
    d = tuple(v if v else 1 for v in d)
    k = o.get("kernel", (1, 1))
    ceil, cip = bool(o.get("ceil", 0)), not o.get("cip_off", 0)
    if op == CONV2D:
        return F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=o.get("groups", 1))
    if op == CONV1D:
        return F.conv1d(x, w, b, stride=s[0], padding=p[0], dilation=d[0], groups=o.get("groups", 1))
    stride2 = tuple(s[i] if "stride" in o and s[i] else k[i] for i in range(2))
    if op == MAXPOOL2D:
        return F.max_pool2d(x, k, stride2, p, d, ceil_mode=ceil)
    if op == MAXPOOL1D:
        return F.max_pool1d(x, k[0], stride2[0], p[0], d[0], ceil_mode=ceil)
    if op == AVGPOOL2D:
        return F.avg_pool2d(x, k, stride2, p, ceil_mode=ceil, count_include_pad=cip)
    if op == AVGPOOL1D:
        return F.avg_pool1d(x, k[0], stride2[0], p[0], ceil_mode=ceil, count_include_pad=cip)
    if op == ADAPTIVE:
        return F.adaptive_avg_pool2d(x, o["out"])
    if op == GLOBAL:
        return x.mean(dim=(-2, -1))
    raise ValueError(op)


def flt(v):
    s = "%.9g" % v
    if "." not in s and "e" not in s:
        s += ".0"
    return s + "f"


def arr(name, t):
    vals = t.detach().reshape(-1).tolist()
    body = ",".join(flt(v) for v in vals) if vals else "0"
    lines = []
    line = ""
    for tok in body.split(","):
        if len(line) + len(tok) > 110:
            lines.append(line)
            line = ""
        line += tok + ","
    lines.append(line)
    return "static const float %s[%d] = {\n    %s\n};\n" % (name, max(len(vals), 1), "\n    ".join(lines))


def dims(shape):
    s = list(shape) + [0] * (4 - len(shape))
    return "%d, {%s}" % (len(shape), ", ".join(str(v) for v in s))


out = ["/* Generated by tests/ref/gen_ops_conv.py with PyTorch %s. Do not edit. */" % torch.__version__,
       "#ifndef OPS_CONV_REF_H", "#define OPS_CONV_REF_H", "",
       "typedef struct ops_conv_ref_case {",
       "    const char *name;",
       "    int op;                              /* 0 conv2d 1 conv1d 2 max2d 3 max1d 4 avg2d 5 avg1d 6 adaptive 7 global */",
       "    int x_ndim, x_shape[4];",
       "    int w_ndim, w_shape[4];              /* conv only */",
       "    int has_bias;",
       "    int stride[2], padding[2], dilation[2], groups, kernel[2], ceil_mode, count_include_pad, out[2];",
       "    /* every option as torch used it: defaults written out (stride = kernel for pools) */",
       "    int y_ndim, y_shape[4];",
       "    const float *x, *w, *b, *gy, *y, *gx, *gw, *gb;",
       "} ops_conv_ref_case;", ""]
table = []
for i, (name, op, xs, ws, has_b, o) in enumerate(CASES):
    x = torch.randn(xs, requires_grad=True)
    w = torch.randn(ws, requires_grad=True) if ws else None
    b = torch.randn(ws[0], requires_grad=True) if (ws and has_b) else None
    y = run(op, x, w, b, o)
    gy = torch.randn(y.shape)
    (y * gy).sum().backward()
    p = "c%d_" % i
    out.append("/* %s */" % name)
    out.append(arr(p + "x", x))
    out.append(arr(p + "gy", gy))
    out.append(arr(p + "y", y))
    out.append(arr(p + "gx", x.grad))
    if w is not None:
        out.append(arr(p + "w", w))
        out.append(arr(p + "gw", w.grad))
    if b is not None:
        out.append(arr(p + "b", b))
        out.append(arr(p + "gb", b.grad))
    g2 = lambda key, dflt=(0, 0): ", ".join(str(v) for v in o.get(key, dflt))
    is_pool = op in (MAXPOOL2D, MAXPOOL1D, AVGPOOL2D, AVGPOOL1D)
    stride_dflt = o.get("kernel", (0, 0)) if is_pool else (1, 1)
    table.append("    {\"%s\", %d, %s, %s, %d, {%s}, {%s}, {%s}, %d, {%s}, %d, %d, {%s}, %s,\n"
                 "     %s, %s, %s, %s, %s, %s, %s, %s}," % (
                     name, op, dims(xs), dims(ws) if ws else "0, {0, 0, 0, 0}", int(has_b),
                     g2("stride", stride_dflt), g2("padding"), g2("dilation", (1, 1)), o.get("groups", 1), g2("kernel"),
                     o.get("ceil", 0), 1 - o.get("cip_off", 0), g2("out"), dims(tuple(y.shape)),
                     p + "x", (p + "w") if w is not None else "0", (p + "b") if b is not None else "0",
                     p + "gy", p + "y", p + "gx", (p + "gw") if w is not None else "0",
                     (p + "gb") if b is not None else "0"))
out.append("static const ops_conv_ref_case ops_conv_ref_cases[] = {")
out += table
out.append("};")
out.append("#define OPS_CONV_REF_N ((int)(sizeof ops_conv_ref_cases / sizeof ops_conv_ref_cases[0]))")
out.append("")
out.append("#endif")
open("tests/ref/ops_conv_ref.h", "w").write("\n".join(out) + "\n")
print("wrote tests/ref/ops_conv_ref.h, %d cases" % len(CASES))
