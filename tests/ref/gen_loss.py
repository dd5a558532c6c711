"""Golden data for tests/test_loss.c: values and input gradients of every tinytrain loss,
computed by PyTorch (float32, CPU). Run from the repository root:
    python3 tests/ref/gen_loss.py > tests/ref/loss_ref.h
Each case records the inputs, the option values, the loss and the gradient of sum(out * seed)
with respect to every input that tinytrain differentiates (seed: fixed random weights)."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
g = torch.Generator().manual_seed(4321)

KINDS = ["L1", "MSE", "HUBER", "SMOOTH_L1", "BCE", "BCE_LOGITS", "KL", "POISSON", "GAUSS", "HINGE",
         "MARGIN_RANK", "SOFT_MARGIN", "ML_SOFT_MARGIN", "MULTI_MARGIN", "ML_MARGIN", "COSINE",
         "TRIPLET", "CE", "CE_PROBS", "NLL", "CTC"]
K = {k: i for i, k in enumerate(KINDS)}
REDS = {"mean": 0, "sum": 1, "none": 2, "batchmean": 3}

cases = []


def rn(*shape, scale=1.0):
    return torch.randn(*shape, generator=g) * scale


def ru(*shape, lo=0.0, hi=1.0):
    return torch.rand(*shape, generator=g) * (hi - lo) + lo


def ri(lo, hi, shape):
    return torch.randint(lo, hi, shape, generator=g)


def add(name, kind, red, fn, tensors, grads, ints=(), iopt=(), fopt=(), nonfinite_grad=False):
    """tensors: up to 4 float tensors (None = absent); grads: which ones get golden gradients;
    fn(list of leaf tensors) -> output. Gradients are recorded only for a finite output unless
    nonfinite_grad (the edge cases whose torch gradient is itself the golden: NaN loss with a zero
    gradient, inf loss with a NaN gradient)."""
    leaves = []
    for t, gr in zip(tensors, grads):
        if t is None:
            leaves.append(None)
            continue
        leaf = t.detach().clone().float()
        if gr:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    out = fn(leaves)
    seed = ru(*out.shape, lo=-1.0, hi=1.0) if out.dim() > 0 else torch.tensor(0.75)
    gradsv = [None] * len(leaves)
    if any(grads) and (nonfinite_grad or torch.isfinite(out).all()):
        (out * seed).sum().backward()
        for i, leaf in enumerate(leaves):
            if leaf is not None and grads[i]:
                gradsv[i] = leaf.grad.detach().clone()
    if kind in ("CE", "NLL", "CE_PROBS"):
        # iopt = [1, ignore_index] as given to torch, or [0, ...] when torch's default was used:
        # the table records the literal value either way (tt_cross_entropy_opts.ignore_index)
        iopt = [1, iopt[1]] if iopt and iopt[0] else [0, -100]
    cases.append(dict(name=name, kind=K[kind], red=REDS[red], tensors=leaves, grads=gradsv,
                      ints=[torch.as_tensor(v).flatten().tolist() for v in ints],
                      iopt=list(iopt), fopt=list(fopt), out=out.detach(), seed=seed))


ALLRED = ["mean", "sum", "none"]

# ---- regression losses (gradients to input and target) ----
for red in ALLRED:
    for shape in [(7,), (3, 5), (2, 3, 4)]:
        x, y = rn(*shape), rn(*shape)
        tag = "x".join(map(str, shape))
        add(f"l1_{red}_{tag}", "L1", red, lambda L, r=red: F.l1_loss(L[0], L[1], reduction=r), [x, y], [1, 1])
        add(f"mse_{red}_{tag}", "MSE", red, lambda L, r=red: F.mse_loss(L[0], L[1], reduction=r), [x, y], [1, 1])
    x, y = rn(4, 6, scale=2.0), rn(4, 6)
    for d in [1.0, 0.5, 2.5]:
        add(f"huber_{red}_d{d}", "HUBER", red, lambda L, r=red, d=d: F.huber_loss(L[0], L[1], reduction=r, delta=d),
            [x, y], [1, 1], fopt=[d])
    for b in [1.0, 0.3, 0.0]:
        add(f"smoothl1_{red}_b{b}", "SMOOTH_L1", red,
            lambda L, r=red, b=b: F.smooth_l1_loss(L[0], L[1], reduction=r, beta=b), [x, y], [1, 1], fopt=[b])
# exact ties (x == y) for the sign/kink conventions
x = torch.tensor([1.0, -2.0, 0.5, 3.0])
add("l1_ties", "L1", "sum", lambda L: F.l1_loss(L[0], L[1], reduction="sum"), [x, x.clone()], [1, 1])
add("huber_kink", "HUBER", "none", lambda L: F.huber_loss(L[0], L[1], reduction="none", delta=1.0),
    [x, x - torch.tensor([1.0, -1.0, 0.0, 2.0])], [1, 1], fopt=[1.0])

# ---- BCE (probabilities, with exact 0 and 1) ----
for red in ALLRED:
    p = ru(3, 5).clamp(0.02, 0.98)
    p[0, 0], p[0, 1], p[1, 2], p[2, 3] = 0.0, 1.0, 0.0, 1.0
    y = ru(3, 5)
    y[0, 0], y[0, 1], y[1, 2], y[2, 3] = 1.0, 0.0, 0.0, 1.0
    add(f"bce_{red}", "BCE", red, lambda L, r=red: F.binary_cross_entropy(L[0], L[1], reduction=r), [p, y], [1, 0])
    w = ru(5, lo=0.5, hi=2.0)
    add(f"bce_w_{red}", "BCE", red, lambda L, r=red: F.binary_cross_entropy(L[0], L[1], weight=L[2], reduction=r),
        [p, y, w], [1, 0, 0])
    w2 = ru(3, 1, lo=0.5, hi=2.0)
    add(f"bce_w2_{red}", "BCE", red, lambda L, r=red: F.binary_cross_entropy(L[0], L[1], weight=L[2], reduction=r),
        [p, y, w2], [1, 0, 0])

# ---- BCE with logits (extreme logits, pos_weight, weight) ----
for red in ALLRED:
    x = rn(4, 3, scale=3.0)
    x[0, 0], x[1, 1], x[2, 2], x[3, 0] = 1e4, -1e4, 1e4, -1e4
    y = (ru(4, 3) > 0.5).float()
    y[0, 0], y[1, 1], y[2, 2], y[3, 0] = 0.0, 1.0, 1.0, 0.0
    y[3, 2] = 0.3
    pw, w = ru(3, lo=0.5, hi=3.0), ru(4, 1, lo=0.5, hi=2.0)
    add(f"bcel_{red}", "BCE_LOGITS", red, lambda L, r=red: F.binary_cross_entropy_with_logits(L[0], L[1], reduction=r),
        [x, y], [1, 0])
    add(f"bcel_pw_{red}", "BCE_LOGITS", red,
        lambda L, r=red: F.binary_cross_entropy_with_logits(L[0], L[1], pos_weight=L[3], reduction=r),
        [x, y, None, pw], [1, 0, 0, 0])
    add(f"bcel_w_pw_{red}", "BCE_LOGITS", red,
        lambda L, r=red: F.binary_cross_entropy_with_logits(L[0], L[1], weight=L[2], pos_weight=L[3], reduction=r),
        [x, y, w, pw], [1, 0, 0, 0])

# ---- KL divergence ----
for red in ALLRED + ["batchmean"]:
    x = torch.log_softmax(rn(3, 5), 1)
    t = torch.softmax(rn(3, 5), 1)
    t[0, 1] = 0.0
    add(f"kl_{red}", "KL", red, lambda L, r=red: F.kl_div(L[0], L[1], reduction=r), [x, t], [1, 0], iopt=[0])
    tl = torch.log_softmax(rn(3, 5), 1)
    add(f"kl_logt_{red}", "KL", red, lambda L, r=red: F.kl_div(L[0], L[1], reduction=r, log_target=True), [x, tl],
        [1, 0], iopt=[1])

# ---- Poisson NLL ----
for red in ALLRED:
    for log_input in [1, 0]:
        for full in [0, 1]:
            x = rn(2, 6) if log_input else ru(2, 6, lo=0.05, hi=4.0)
            y = torch.floor(ru(2, 6, lo=0.0, hi=5.0))
            for eps in ([1e-8, 0.5] if not log_input else [1e-8]):
                add(f"poisson_{red}_log{log_input}_full{full}_eps{eps}", "POISSON", red,
                    lambda L, r=red, li=log_input, fu=full, e=eps: F.poisson_nll_loss(
                        L[0], L[1], log_input=bool(li), full=bool(fu), eps=e, reduction=r),
                    [x, y], [1, 0], iopt=[log_input, full], fopt=[eps])

# ---- Gaussian NLL (var shapes, clamp, full) ----
for red in ALLRED:
    x, y = rn(4, 3), rn(4, 3)
    for vname, v in [("same", ru(4, 3, lo=0.1, hi=2.0)), ("last1", ru(4, 1, lo=0.1, hi=2.0)),
                     ("nolast", ru(4, lo=0.1, hi=2.0))]:
        for full in [0, 1]:
            add(f"gauss_{red}_{vname}_full{full}", "GAUSS", red,
                lambda L, r=red, fu=full: F.gaussian_nll_loss(L[0], L[1], L[2], full=bool(fu), reduction=r),
                [x, y, v], [1, 1, 1], iopt=[full], fopt=[1e-6])
    v = ru(4, 3, lo=0.1, hi=2.0)
    v[0, 0], v[1, 2], v[2, 1] = 0.0, 1e-8, 0.05  # clamped at eps (0.05 with the larger eps below)
    add(f"gauss_clamp_{red}", "GAUSS", red,
        lambda L, r=red: F.gaussian_nll_loss(L[0], L[1], L[2], eps=0.1, reduction=r), [x, y, v], [1, 1, 1],
        iopt=[0], fopt=[0.1])

# ---- hinge embedding, margin ranking, soft margin ----
for red in ALLRED:
    x = rn(3, 4, scale=1.5)
    lab = ri(0, 2, (3, 4)) * 2 - 1
    for m in [1.0, 0.5, -0.5]:
        add(f"hinge_{red}_m{m}", "HINGE", red,
            lambda L, r=red, m=m, lab=lab: F.hinge_embedding_loss(L[0], lab.float(), margin=m, reduction=r),
            [x], [1], ints=[lab], fopt=[m])
    a, b = rn(9), rn(9)
    lab = ri(0, 2, (9,)) * 2 - 1
    for m in [0.0, 0.7]:
        add(f"mrank_{red}_m{m}", "MARGIN_RANK", red,
            lambda L, r=red, m=m, lab=lab: F.margin_ranking_loss(L[0], L[1], lab.float(), margin=m, reduction=r),
            [a, b], [1, 1], ints=[lab], fopt=[m])
    x = rn(3, 5, scale=2.0)
    x[0, 0], x[1, 1], x[2, 4] = 1e4, -1e4, -1e4
    y = (ri(0, 2, (3, 5)) * 2 - 1).float()

    def soft_margin_stable(L, r=red):
        # torch's soft_margin_loss computes log1p(exp(-y x)) and overflows to inf at |x| = 1e4;
        # tinytrain uses softplus(-y x): the same function, finite. Check where torch is finite.
        z = -L[1] * L[0]
        v = torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs()))
        ref = F.soft_margin_loss(L[0].detach(), L[1], reduction="none")
        fin = torch.isfinite(ref)
        assert torch.allclose(v.detach()[fin], ref[fin], rtol=1e-6, atol=1e-7)
        return v if r == "none" else (v.sum() if r == "sum" else v.mean())
    add(f"softmargin_{red}", "SOFT_MARGIN", red, soft_margin_stable, [x, y], [1, 0])
    x2 = rn(2, 7)
    add(f"softmargin_plain_{red}", "SOFT_MARGIN", red,
        lambda L, r=red: F.soft_margin_loss(L[0], L[1], reduction=r), [x2, (ri(0, 2, (2, 7)) * 2 - 1).float()], [1, 0])

# ---- multilabel soft margin ----
for red in ALLRED:
    x = rn(4, 5, scale=2.0)
    x[0, 0], x[2, 3] = 1e4, -1e4
    y = (ru(4, 5) > 0.5).float()
    w = ru(5, lo=0.5, hi=2.0)
    add(f"mlsm_{red}", "ML_SOFT_MARGIN", red, lambda L, r=red: F.multilabel_soft_margin_loss(L[0], L[1], reduction=r),
        [x, y], [1, 0])
    add(f"mlsm_w_{red}", "ML_SOFT_MARGIN", red,
        lambda L, r=red: F.multilabel_soft_margin_loss(L[0], L[1], weight=L[2], reduction=r), [x, y, w], [1, 0, 0])

# ---- multi margin, multilabel margin ----
for red in ALLRED:
    x = rn(5, 4)
    t = ri(0, 4, (5,))
    w = ru(4, lo=0.5, hi=2.0)
    for p in [1, 2]:
        for m in [1.0, 0.3]:
            add(f"mm_{red}_p{p}_m{m}", "MULTI_MARGIN", red,
                lambda L, r=red, p=p, m=m, t=t: F.multi_margin_loss(L[0], t, p=p, margin=m, reduction=r),
                [x], [1], ints=[t], iopt=[p], fopt=[m])
        add(f"mm_w_{red}_p{p}", "MULTI_MARGIN", red,
            lambda L, r=red, p=p, t=t: F.multi_margin_loss(L[0], t, p=p, weight=L[1], reduction=r),
            [x, w], [1, 0], ints=[t], iopt=[p], fopt=[1.0])
    x = rn(3, 5)
    t = torch.tensor([[3, 0, -1, 1, 1], [1, 2, 4, 0, -1], [2, -1, 0, 0, 0]])
    add(f"mlm_{red}", "ML_MARGIN", red, lambda L, r=red, t=t: F.multilabel_margin_loss(L[0], t, reduction=r), [x], [1],
        ints=[t])
x = rn(4)
add("mm_unbatched", "MULTI_MARGIN", "none", lambda L: F.multi_margin_loss(L[0].unsqueeze(0), torch.tensor([2]),
    reduction="none").squeeze(0), [x], [1], ints=[torch.tensor([2])], iopt=[1], fopt=[1.0])
t = torch.tensor([1, 3, -1, 0])
add("mlm_unbatched", "ML_MARGIN", "none", lambda L: F.multilabel_margin_loss(L[0], t, reduction="none"), [rn(4)], [1],
    ints=[t])

# ---- cosine embedding, triplet margin ----
for red in ALLRED:
    a, b = rn(6, 5), rn(6, 5)
    b[5] = a[5] * 2.0  # cos = 1 exactly-ish
    lab = torch.tensor([1, -1, 1, -1, -1, 1])
    for m in [0.0, 0.3, -0.2]:
        add(f"cos_{red}_m{m}", "COSINE", red,
            lambda L, r=red, m=m: F.cosine_embedding_loss(L[0], L[1], lab, margin=m, reduction=r), [a, b], [1, 1],
            ints=[lab], fopt=[m])
    a, p, n = rn(5, 6), rn(5, 6), rn(5, 6)
    n[0] = a[0] + 0.1  # an active and an inactive row in every case
    for pn in [2.0, 1.0, 3.0]:
        for swap in [0, 1]:
            for m in [1.0, 0.5]:
                add(f"trip_{red}_p{pn}_s{swap}_m{m}", "TRIPLET", red,
                    lambda L, r=red, pn=pn, swap=swap, m=m: F.triplet_margin_loss(
                        L[0], L[1], L[2], margin=m, p=pn, eps=1e-6, swap=bool(swap), reduction=r),
                    [a, p, n], [1, 1, 1], iopt=[swap], fopt=[m, pn, 1e-6])
a, b = rn(5), rn(5)
add("cos_unbatched", "COSINE", "none", lambda L: F.cosine_embedding_loss(L[0].unsqueeze(0), L[1].unsqueeze(0),
    torch.tensor([1]), reduction="none").squeeze(0), [a, b], [1, 1], ints=[torch.tensor([1])], fopt=[0.0])

# ---- cross-entropy (indices), NLL ----
def ce_cases(prefix, x, t, C, extra=""):
    w = ru(C, lo=0.3, hi=2.0)
    for red in ALLRED:
        for ls in [0.0, 0.2]:
            add(f"{prefix}_{red}_ls{ls}{extra}", "CE", red,
                lambda L, r=red, ls=ls: F.cross_entropy(L[0], t, reduction=r, label_smoothing=ls),
                [x], [1], ints=[t], iopt=[0, 0], fopt=[ls])
            add(f"{prefix}_w_{red}_ls{ls}{extra}", "CE", red,
                lambda L, r=red, ls=ls: F.cross_entropy(L[0], t, weight=L[1], reduction=r, label_smoothing=ls),
                [x, w], [1, 0], ints=[t], iopt=[0, 0], fopt=[ls])
        # NLL on log-probabilities
        lp = torch.log_softmax(x, 1 if x.dim() > 1 else 0)
        add(f"nll{prefix[2:]}_{red}{extra}", "NLL", red, lambda L, r=red: F.nll_loss(L[0], t, reduction=r), [lp], [1],
            ints=[t], iopt=[0, 0])
        add(f"nll{prefix[2:]}_w_{red}{extra}", "NLL", red, lambda L, r=red: F.nll_loss(L[0], t, weight=L[1], reduction=r),
            [lp, w], [1, 0], ints=[t], iopt=[0, 0])


x = rn(6, 5, scale=2.0)
x[0, 0], x[0, 3], x[1, 2], x[2, 4] = 1e4, -1e4, -1e4, 1e4
t = torch.tensor([0, 2, 1, -100, 4, 3])  # one ignored (torch default ignore_index)
ce_cases("ce2d", x, t, 5)
x = rn(3, 4, 2, 3)
t = ri(0, 4, (3, 2, 3))
t[1, 0, 2] = -100
ce_cases("ce4d", x, t, 4)
x = rn(5)
ce_cases("ceunb", x, torch.tensor(3), 5)
# custom ignore_index inside [0, C), and every target ignored (NaN mean)
x = rn(5, 4)
t = torch.tensor([1, 2, 2, 0, 3])
w = ru(4, lo=0.3, hi=2.0)
for red in ALLRED:
    add(f"ce_ign2_w_{red}", "CE", red,
        lambda L, r=red: F.cross_entropy(L[0], t, weight=L[1], ignore_index=2, reduction=r, label_smoothing=0.1),
        [x, w], [1, 0], ints=[t], iopt=[1, 2], fopt=[0.1])
    add(f"nll_ign2_{red}", "NLL", red, lambda L, r=red: F.nll_loss(L[0], t, ignore_index=2, reduction=r),
        [torch.log_softmax(x, 1)], [1], ints=[t], iopt=[1, 2])
tall = torch.tensor([-100, -100])
add("ce_all_ignored", "CE", "mean", lambda L: F.cross_entropy(L[0], tall), [rn(2, 3)], [0], ints=[tall], iopt=[0, 0])

# ---- cross-entropy with probabilities ----
for red in ALLRED:
    for shape in [(4, 5), (2, 3, 4)]:
        x = rn(*shape, scale=2.0)
        if len(shape) == 2:
            x[0, 0], x[1, 3] = 1e4, -1e4
        q = torch.softmax(rn(*shape), 1)
        w = ru(shape[1], lo=0.3, hi=2.0)
        tag = "x".join(map(str, shape))
        for ls in [0.0, 0.25]:
            add(f"cep_{red}_{tag}_ls{ls}", "CE_PROBS", red,
                lambda L, r=red, ls=ls: F.cross_entropy(L[0], L[1], reduction=r, label_smoothing=ls), [x, q], [1, 0],
                fopt=[ls])
            add(f"cep_w_{red}_{tag}_ls{ls}", "CE_PROBS", red,
                lambda L, r=red, ls=ls: F.cross_entropy(L[0], L[1], weight=L[2], reduction=r, label_smoothing=ls),
                [x, q, w], [1, 0, 0], fopt=[ls])

# ---- CTC ----
def ctc_case(name, T, N, C, tl, il, red, blank=0, zero_inf=0, padded=0):
    lp = torch.log_softmax(rn(T, N, C), 2)
    labels = [c for c in range(C) if c != blank]
    tg = [[labels[int(i)] for i in ri(0, len(labels), (L,))] for L in tl]
    if name.endswith("repeat"):
        tg[0][1] = tg[0][0]  # repeated label needs a blank between
    if padded:
        S = max(tl) + 1
        flat = torch.tensor([row + [blank] * (S - len(row)) for row in tg])
        tt = flat
    else:
        flat = torch.tensor([c for row in tg for c in row], dtype=torch.long)
        tt = flat
    add(name, "CTC", red,
        lambda L: F.ctc_loss(L[0], tt, torch.tensor(il), torch.tensor(tl), blank=blank, reduction=red,
                             zero_infinity=bool(zero_inf)),
        [lp], [1], ints=[flat, torch.tensor(il), torch.tensor(tl)],
        iopt=[blank, zero_inf, 1 if padded else 0])  # tt_ctc_opts fields: blank, zero_infinity, targets_padded


for red in ALLRED:
    ctc_case(f"ctc_{red}", 12, 3, 5, [3, 5, 2], [12, 10, 7], red)
    ctc_case(f"ctc_{red}_blank2_padded", 10, 2, 4, [4, 3], [10, 9], red, blank=2, padded=1)
    ctc_case(f"ctc_{red}_repeat", 8, 1, 3, [3], [8], red)
    ctc_case(f"ctc_{red}_empty_target", 6, 2, 4, [0, 2], [6, 5], red)
    ctc_case(f"ctc_{red}_zero_inf", 6, 2, 4, [2, 5], [6, 4], red, zero_inf=1)  # sample 1 impossible
ctc_case("ctc_none_inf", 6, 2, 4, [2, 5], [6, 4], "none")

# ---- edge cases whose golden gradient is non-finite or comes with a non-finite loss ----
# MEAN with every target ignored: loss NaN (0 / 0), input gradient all zero (ignored targets
# contribute exactly nothing, not 0 * inf); batched, (N, C, d), unbatched (C), NLL, smoothing.
xa = rn(3, 4)
ta = torch.tensor([1, 1, 1])
add("ce_all_ignored_grad", "CE", "mean", lambda L: F.cross_entropy(L[0], ta, ignore_index=1), [xa], [1],
    ints=[ta], iopt=[1, 1], nonfinite_grad=True)
add("ce_all_ignored_grad_ls", "CE", "mean",
    lambda L: F.cross_entropy(L[0], ta, ignore_index=1, label_smoothing=0.1), [xa], [1], ints=[ta], iopt=[1, 1],
    fopt=[0.1], nonfinite_grad=True)
tdef = torch.tensor([-100, -100, -100])
add("ce_all_ignored_grad_default", "CE", "mean", lambda L: F.cross_entropy(L[0], tdef), [xa], [1], ints=[tdef],
    iopt=[0, 0], nonfinite_grad=True)
add("nll_all_ignored_grad", "NLL", "mean", lambda L: F.nll_loss(L[0], ta, ignore_index=1),
    [torch.log_softmax(xa, 1)], [1], ints=[ta], iopt=[1, 1], nonfinite_grad=True)
x3 = rn(2, 4, 3)
t3 = torch.full((2, 3), 2)
add("ce_all_ignored_grad_3d", "CE", "mean", lambda L: F.cross_entropy(L[0], t3, ignore_index=2), [x3], [1],
    ints=[t3], iopt=[1, 2], nonfinite_grad=True)
xu = rn(5)
tu = torch.tensor(2)
add("ce_unbatched_ignored_grad", "CE", "mean", lambda L: F.cross_entropy(L[0], tu, ignore_index=2), [xu], [1],
    ints=[tu], iopt=[1, 2], nonfinite_grad=True)
add("nll_unbatched_ignored_grad", "NLL", "mean", lambda L: F.nll_loss(L[0], tu, ignore_index=2),
    [torch.log_softmax(xu, 0)], [1], ints=[tu], iopt=[1, 2], nonfinite_grad=True)
# zero class weights on counted targets are not ignored targets: 0 / 0 gives torch a NaN gradient
wz = torch.tensor([1.0, 0.0, 0.0, 1.0])
tz = torch.tensor([1, 2, 1])
add("nll_zero_weight_grad", "NLL", "mean", lambda L: F.nll_loss(L[0], tz, weight=L[1]),
    [torch.log_softmax(xa, 1), wz], [1, 0], ints=[tz], iopt=[0, 0], nonfinite_grad=True)
add("ce_zero_weight_grad", "CE", "mean", lambda L: F.cross_entropy(L[0], tz, weight=L[1]), [xa, wz], [1, 0],
    ints=[tz], iopt=[0, 0], nonfinite_grad=True)


# CTC with zero_infinity off and an impossible alignment: loss inf, and torch's gradient of that
# sample is NaN for every t < input_length (0 after it); the other samples are unaffected.
def ctc_inf_case(name, red, il):
    lp = torch.log_softmax(rn(6, 3, 4), 2)
    tl = [2, 5, 1]
    flat = torch.tensor([1, 2, 3, 1, 2, 3, 1, 2])
    add(name, "CTC", red,
        lambda L: F.ctc_loss(L[0], flat, torch.tensor(il), torch.tensor(tl), reduction=red),
        [lp], [1], ints=[flat, torch.tensor(il), torch.tensor(tl)], iopt=[0, 0, 0], nonfinite_grad=True)


for red in ALLRED:
    ctc_inf_case(f"ctc_{red}_inf_grad", red, [6, 4, 5])
ctc_inf_case("ctc_sum_inf_grad_empty_input", "sum", [6, 0, 5])


# ---- emit ----
def fl(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return "%.9g" % v


def arr(name, vals, ctype="float"):
    vals = list(vals)
    if not vals:
        vals = [0]
    body = ",".join(fl(v) if ctype == "float" else str(int(v)) for v in vals)
    return f"static const {ctype} {name}[] = {{{body}}};\n"


out = ["/* Generated by tests/ref/gen_loss.py with torch %s: do not edit. */\n" % torch.__version__,
       "#ifndef LOSS_REF_H\n#define LOSS_REF_H\n#include <math.h>\n"]
for i, k in enumerate(KINDS):
    out.append(f"#define LK_{k} {i}\n")
out.append("""typedef struct loss_ref_case {
    const char *name;
    int kind, red, iopt[4];
    float fopt[4];
    int tnd[4], tshape[4][4];            /* tensor k: ndim (-1 = absent) and shape */
    const float *t[4], *tgrad[4];        /* data; golden gradient or NULL */
    int ni[3];                           /* int arrays: lengths */
    const int *iv[3];
    int ond, oshape[4];
    const float *out, *seed;
} loss_ref_case;
""")
rows = []
for ci, c in enumerate(cases):
    p = f"lr{ci}"
    tnd, tsh, tptr, gptr = [], [], [], []
    for k in range(4):
        t = c["tensors"][k] if k < len(c["tensors"]) else None
        if t is None:
            tnd.append(-1); tsh.append([0, 0, 0, 0]); tptr.append("0"); gptr.append("0")
            continue
        out.append(arr(f"{p}_t{k}", t.detach().flatten().tolist()))
        tnd.append(t.dim()); tsh.append(list(t.shape) + [0] * (4 - t.dim())); tptr.append(f"{p}_t{k}")
        gr = c["grads"][k] if k < len(c["grads"]) else None
        if gr is not None:
            out.append(arr(f"{p}_g{k}", gr.flatten().tolist()))
            gptr.append(f"{p}_g{k}")
        else:
            gptr.append("0")
    ni, iv = [], []
    for k in range(3):
        if k < len(c["ints"]):
            out.append(arr(f"{p}_i{k}", c["ints"][k], "int"))
            ni.append(len(c["ints"][k])); iv.append(f"{p}_i{k}")
        else:
            ni.append(0); iv.append("0")
    o = c["out"]
    out.append(arr(f"{p}_out", o.flatten().tolist()))
    out.append(arr(f"{p}_seed", c["seed"].flatten().tolist()))
    iopt = (c["iopt"] + [0] * 4)[:4]
    fopt = (c["fopt"] + [0] * 4)[:4]
    osh = list(o.shape) + [0] * (4 - o.dim())
    rows.append("    {\"%s\", %d, %d, {%s}, {%s}, {%s}, {%s}, {%s}, {%s}, {%s}, {%s}, %d, {%s}, %s_out, %s_seed},\n" % (
        c["name"], c["kind"], c["red"], ",".join(map(str, iopt)), ",".join(fl(v) for v in fopt),
        ",".join(map(str, tnd)), ",".join("{%s}" % ",".join(map(str, s)) for s in tsh), ",".join(tptr),
        ",".join(gptr), ",".join(map(str, ni)), ",".join(iv), o.dim(), ",".join(map(str, osh)), p, p))
out.append("static const loss_ref_case loss_ref_cases[] = {\n" + "".join(rows) + "};\n")
out.append("#define LOSS_REF_N_CASES %d\n#endif\n" % len(cases))
print("".join(out), end="")
