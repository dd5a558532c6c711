#!/usr/bin/env python3
"""Golden values for tests/test_metrics.c: scikit-learn's metrics, classification reports, split
sizes, stratified per-class counts, k-fold assignments, scalers and imputers on random and
edge-case inputs. Writes tests/ref/metrics_ref.h. Run: python3 tests/ref/gen_metrics.py

Every float input is a float32 value (the C side reads float arrays), widened to float64 for
sklearn except where the float32 dtype matters (log_loss clipping, MinMaxScaler's eps)."""
import math
import os
import warnings

import numpy as np
import sklearn
from sklearn import metrics as M
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit, train_test_split
from sklearn.model_selection._split import _validate_shuffle_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler, label_binarize

warnings.filterwarnings("ignore")
rng = np.random.RandomState(1234)
out = []


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return "%.17g" % v


def ffmt(v):
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return fmt(v)
    t = "%.9g" % v
    return t + ("f" if ("." in t or "e" in t) else ".0f")


def arr(name, vals, ctype="double"):
    vals = list(np.asarray(vals).ravel())
    if ctype in ("int", "size_t", "long"):
        body = ", ".join(str(int(v)) for v in vals)
    elif ctype == "float":
        body = ", ".join(ffmt(v) for v in vals)
    else:
        body = ", ".join(fmt(v) for v in vals)
    if not vals:
        body = "0"
    out.append("static const %s %s[%d] = {%s};" % (ctype, name, max(len(vals), 1), body))


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# ---------------------------------------------------------------- classification (labels)
ZD = ["warn", 0.0, 1.0, np.nan]          # index = tt_zero_division
AVG = [None, "binary", "micro", "macro", "weighted"]  # index = tt_average
BETAS = [1.0, 0.5, 2.0]

cls_cases = []
n = 50
cls_cases.append(("random", 4, rng.randint(0, 4, n), rng.randint(0, 4, n)))
yt = rng.randint(0, 3, 40)
yp = rng.randint(0, 2, 40)  # class 2 never predicted
cls_cases.append(("never_pred", 3, yt, yp))
yt = rng.choice([0, 2], 30)  # class 1 absent from y_true
yp = rng.randint(0, 3, 30)
cls_cases.append(("absent_true", 3, yt, yp))
cls_cases.append(("single", 2, np.zeros(12, int), np.zeros(12, int)))  # class 1 nowhere
yt = rng.randint(0, 2, 30)
yp = np.where(rng.rand(30) < 0.7, yt, 1 - yt)
cls_cases.append(("binary", 2, yt, yp))
cls_cases.append(("allwrong", 3, np.array([0, 0, 1, 1, 2]), np.array([1, 1, 2, 2, 0])))
# every prediction the other class: with zero_division nan the weighted average keeps only
# entries of weight 0 (sklearn falls back to the plain mean)
cls_cases.append(("shifted", 2, np.zeros(6, int), np.ones(6, int)))

out.append("#define REF_N_CLS_CASES %d" % len(cls_cases))
out.append("#define REF_N_BETAS %d" % len(BETAS))
arr("ref_betas", BETAS)
for ci, (name, C, yt, yp) in enumerate(cls_cases):
    labels = list(range(C))
    p = "ref_cls%d_" % ci
    arr(p + "true", yt, "int")
    arr(p + "pred", yp, "int")
    arr(p + "acc", [M.accuracy_score(yt, yp)])
    arr(p + "bal", [M.balanced_accuracy_score(yt, yp)])
    arr(p + "cm", M.confusion_matrix(yt, yp, labels=labels), "size_t")
    # prf: [zd][avg][beta] -> for NONE C values each, else 1 value; stored flat, NONE first
    per = []
    avg = []
    for zi, zd in enumerate(ZD):
        for bi, beta in enumerate(BETAS):
            pr, rc, fs, sup = M.precision_recall_fscore_support(
                yt, yp, labels=labels, average=None, beta=beta, zero_division=zd)
            per += list(pr) + list(rc) + list(fs)
            for ai in range(1, 5):
                a = AVG[ai]
                if a == "binary" and C != 2:
                    avg += [np.nan, np.nan, np.nan]
                    continue
                kw = dict(average=a, beta=beta, zero_division=zd)
                if a != "binary":
                    kw["labels"] = labels
                pr, rc, fs, _ = M.precision_recall_fscore_support(yt, yp, **kw)
                avg += [pr, rc, fs]
    arr(p + "support", M.precision_recall_fscore_support(yt, yp, labels=labels, average=None)[3], "size_t")
    arr(p + "prf_none", per)   # [zd 4][beta 3][p/r/f 3][C]
    arr(p + "prf_avg", avg)    # [zd 4][beta 3][avg 4: binary micro macro weighted][p/r/f 3]
    rep = M.classification_report(yt, yp, labels=labels)
    out.append("static const char %sreport[] = %s;" % (p, cstr(rep)))
    names = ["class_%s" % "abcdefghij"[i] for i in range(C)]
    rep = M.classification_report(yt, yp, labels=labels, target_names=names, digits=4, zero_division=np.nan)
    out.append("static const char %sreport4[] = %s;" % (p, cstr(rep)))
    out.append("#define REF_CLS%d_N %d" % (ci, len(yt)))
    out.append("#define REF_CLS%d_C %d" % (ci, C))
# long names and many digits
yt = rng.randint(0, 3, 25)
yp = rng.randint(0, 3, 25)
arr("ref_rep_true", yt, "int")
arr("ref_rep_pred", yp, "int")
rep = M.classification_report(yt, yp, labels=[0, 1, 2], target_names=["setosa", "versicolor-and-a-long-name", "v"],
                              digits=6, zero_division=1.0)
out.append("static const char ref_rep_long[] = %s;" % cstr(rep))

# ---------------------------------------------------------------- scores: binary ranking
bin_cases = []
n = 40
yt = rng.randint(0, 2, n)
bin_cases.append(("random", yt, rng.rand(n).astype(np.float32)))
yt = rng.randint(0, 2, n)
bin_cases.append(("ties", yt, (np.round(rng.rand(n) * 5) / 5).astype(np.float32)))
yt = rng.randint(0, 2, 10)
bin_cases.append(("all_equal", yt, np.full(10, 0.5, np.float32)))
bin_cases.append(("perfect", np.array([0, 0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.8, 0.9], np.float32)))
bin_cases.append(("inverse", np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4], np.float32)))
bin_cases.append(("one_class", np.ones(6, int), rng.rand(6).astype(np.float32)))   # AUC nan, AP 1
bin_cases.append(("no_pos", np.zeros(6, int), rng.rand(6).astype(np.float32)))     # AUC nan, AP 0
out.append("#define REF_N_BIN_CASES %d" % len(bin_cases))
for bi, (name, yt, s) in enumerate(bin_cases):
    p = "ref_bin%d_" % bi
    arr(p + "true", yt, "int")
    arr(p + "score", s, "float")
    s64 = s.astype(np.float64)
    arr(p + "auc", [M.roc_auc_score(yt, s64)])
    arr(p + "ap", [M.average_precision_score(yt, s64)])
    out.append("#define REF_BIN%d_N %d" % (bi, len(yt)))


def softmax_rows(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


# ---------------------------------------------------------------- scores: multi-class
mc_cases = []
n, C = 60, 4
yt = rng.randint(0, C, n)
mc_cases.append(("random", C, yt, softmax_rows(rng.randn(n, C) * 1.5).astype(np.float32)))
# ties: rows from a small set of probability vectors
protos = np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.25, 0.125, 0.125], [0.125, 0.125, 0.5, 0.25],
                   [0.0, 0.5, 0.5, 0.0]], np.float32)
yt = rng.randint(0, C, 30)
mc_cases.append(("ties", C, yt, protos[rng.randint(0, 4, 30)]))
yt = rng.choice([0, 1, 3], 30)  # class 2 absent from y_true
mc_cases.append(("absent", C, yt, softmax_rows(rng.randn(30, C)).astype(np.float32)))
yt = rng.randint(0, 3, 20)
pr = softmax_rows(rng.randn(20, 3) * 3).astype(np.float32)
pr[0] = [1.0, 0.0, 0.0]  # log-loss clipping
pr[1] = [0.0, 0.0, 1.0]
yt[0], yt[1] = 1, 2
mc_cases.append(("extreme", 3, yt, pr))
out.append("#define REF_N_MC_CASES %d" % len(mc_cases))
for mi, (name, C, yt, s) in enumerate(mc_cases):
    p = "ref_mc%d_" % mi
    labels = list(range(C))
    arr(p + "true", yt, "int")
    arr(p + "score", s, "float")
    s64 = s.astype(np.float64)
    vals = []
    for avg in ("macro", "weighted"):
        try:
            vals.append(M.roc_auc_score(yt, s64, multi_class="ovr", average=avg, labels=labels))
        except ValueError:
            vals.append(np.nan)
    Y = label_binarize(yt, classes=labels)
    for avg in ("macro", "weighted"):
        vals.append(M.average_precision_score(Y, s64, average=avg))
    arr(p + "rank", vals)  # auc macro, auc weighted, ap macro, ap weighted
    arr(p + "topk", [M.top_k_accuracy_score(yt, s64, k=k, labels=labels) for k in (1, 2, 3)])
    arr(p + "logloss", [M.log_loss(yt, s, labels=labels)])  # float32 probs: float32 eps clipping
    out.append("#define REF_MC%d_N %d" % (mi, len(yt)))
    out.append("#define REF_MC%d_C %d" % (mi, C))

# ---------------------------------------------------------------- regression
reg_cases = []
n = 30
a = (rng.randn(n) * 3).astype(np.float32)
reg_cases.append(("random", a, (a + rng.randn(n).astype(np.float32)).astype(np.float32)))
reg_cases.append(("const_perfect", np.full(5, 2.5, np.float32), np.full(5, 2.5, np.float32)))
reg_cases.append(("const_wrong", np.full(5, 2.5, np.float32), np.array([2.5, 2, 3, 2.5, 1], np.float32)))
reg_cases.append(("one", np.array([1.0], np.float32), np.array([3.0], np.float32)))
out.append("#define REF_N_REG_CASES %d" % len(reg_cases))
for ri, (name, a, b) in enumerate(reg_cases):
    p = "ref_reg%d_" % ri
    arr(p + "true", a, "float")
    arr(p + "pred", b, "float")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    arr(p + "vals", [M.mean_squared_error(a64, b64), M.mean_absolute_error(a64, b64),
                     M.root_mean_squared_error(a64, b64), M.r2_score(a64, b64)])
    out.append("#define REF_REG%d_N %d" % (ri, len(a)))

# ---------------------------------------------------------------- split sizes
# (n, test kind, test value, train kind, train value): kind 0 None, 1 fraction, 2 count
size_cases = []
for nn in (1, 2, 3, 7, 10, 100, 101):
    for tk, tv in ((0, 0), (1, 0.25), (1, 0.1), (1, 0.33), (2, 3), (1, 0.999), (2, 1)):
        for rk, rv in ((0, 0), (1, 0.5), (1, 0.75), (2, 5), (1, 0.9)):
            size_cases.append((nn, tk, tv, rk, rv))
size_cases += [(10, 1, 0.0, 0, 0), (10, 1, 1.0, 0, 0), (10, 2, 10, 0, 0), (10, 2, 0, 0, 0), (10, 0, 0, 2, 10),
               (10, 1, 0.6, 1, 0.6), (10, 2, 6, 2, 5), (0, 0, 0, 0, 0), (5, 1, 0.9, 0, 0), (10, 1, -0.5, 0, 0)]
res = []
for nn, tk, tv, rk, rv in size_cases:
    ts = None if tk == 0 else (float(tv) if tk == 1 else int(tv))
    rs = None if rk == 0 else (float(rv) if rk == 1 else int(rv))
    try:
        a, b = _validate_shuffle_split(nn, ts, rs, default_test_size=0.25)
        res.append((a, b))
    except (ValueError, TypeError):
        res.append((-1, -1))
out.append("#define REF_N_SIZE_CASES %d" % len(size_cases))
arr("ref_size_in", [v for c in size_cases for v in c])       # [case][5]
arr("ref_size_out", [v for r in res for v in r], "long")    # [case][2] n_train, n_test (-1 error)

# ---------------------------------------------------------------- stratified split counts
strat_cases = []
strat_cases.append((np.repeat([0, 1, 2], [50, 30, 20]), 0.25, 3))
strat_cases.append((np.repeat([0, 1, 2, 3], [13, 7, 29, 3]), 0.3, 4))
strat_cases.append((np.repeat([0, 2, 3], [9, 17, 6]), 0.2, 5))       # class 1 absent, n_classes 5
strat_cases.append((np.repeat([0, 1], [91, 9]), 0.1, 2))
strat_cases.append((np.repeat([0, 1, 2], [40, 41, 19]), 0.37, 3))
strat_cases.append((np.repeat([0, 1, 2], [59, 71, 48]), 0.2, 3))      # wine's class counts
kept = []
tie_cases = []
for y, ts, C in strat_cases:
    y = rng.permutation(y)
    counts = []
    for seed in range(12):  # keep only cases whose counts do not depend on sklearn's random tie-break
        tr, te = train_test_split(np.arange(len(y)), test_size=ts, stratify=y, random_state=seed)
        counts.append(tuple(np.bincount(y[tr], minlength=C)) + tuple(np.bincount(y[te], minlength=C)))
    if len(set(counts)) == 1:
        kept.append((y, ts, C, counts[0]))
    else:
        tie_cases.append((y, ts, C, sorted(set(counts))))
out.append("#define REF_N_STRAT_CASES %d" % len(kept))
# cases with ties: sklearn's counts vary with random_state; ours must be one of its outcomes
assert len(tie_cases) == 1
y, ts, C, outcomes = tie_cases[0]
arr("ref_tie_y", y, "int")
arr("ref_tie_outcomes", [v for o in outcomes for v in o], "size_t")
out.append("#define REF_TIE_N %d" % len(y))
out.append("#define REF_TIE_C %d" % C)
out.append("#define REF_TIE_TEST %s" % fmt(ts))
out.append("#define REF_TIE_OUTCOMES %d" % len(outcomes))
for si, (y, ts, C, cnt) in enumerate(kept):
    p = "ref_strat%d_" % si
    arr(p + "y", y, "int")
    arr(p + "counts", cnt, "size_t")  # train per class [C], test per class [C]
    out.append("#define REF_STRAT%d_N %d" % (si, len(y)))
    out.append("#define REF_STRAT%d_C %d" % (si, C))
    out.append("#define REF_STRAT%d_TEST %s" % (si, fmt(ts)))
# three-way (two passes): test 0.2 then val 0.25 of the rest, stratified, on the wine counts
y, _, C, _ = kept[-1]
c3 = []
for seed in range(12):
    rest, te = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    tr, va = train_test_split(rest, test_size=0.25, stratify=y[rest], random_state=seed + 100)
    c3.append(tuple(np.bincount(y[tr], minlength=C)) + tuple(np.bincount(y[va], minlength=C)) +
              tuple(np.bincount(y[te], minlength=C)))
assert len(set(c3)) == 1, "three-way case has ties"
arr("ref_split3_counts", c3[0], "size_t")

# ---------------------------------------------------------------- k-fold
kf = []
for nn, k in ((10, 3), (7, 7), (100, 6), (5, 2)):
    sizes = [len(te) for _, te in KFold(k).split(np.zeros(nn))]
    kf.append((nn, k, sizes))
out.append("#define REF_N_KFOLD %d" % len(kf))
arr("ref_kfold_nk", [v for nn, k, _ in kf for v in (nn, k)], "int")
arr("ref_kfold_sizes", [v for _, _, s in kf for v in s + [0] * (7 - len(s))], "size_t")  # [case][7]
skf = []
skf.append((rng.randint(0, 3, 31), 3, 4))
skf.append((np.array([2, 2, 0, 1, 1, 1, 0, 2, 2, 2, 0, 1, 1, 2, 0]), 4, 3))
skf.append((rng.choice([1, 3], 20), 5, 4))  # classes 0, 2 absent
skf.append((np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]), 4, 2))  # class 0 smaller than k: warning only
out.append("#define REF_N_SKF %d" % len(skf))
for si, (y, k, C) in enumerate(skf):
    folds = np.empty(len(y), int)
    for f, (_, te) in enumerate(StratifiedKFold(k).split(np.zeros(len(y)), y)):
        folds[te] = f
    p = "ref_skf%d_" % si
    arr(p + "y", y, "int")
    arr(p + "fold", folds, "int")
    out.append("#define REF_SKF%d_N %d" % (si, len(y)))
    out.append("#define REF_SKF%d_K %d" % (si, k))
    out.append("#define REF_SKF%d_C %d" % (si, C))

# ---------------------------------------------------------------- preprocessing
R, D = 20, 5
X = (rng.randn(R, D) * [1, 10, 0.1, 3, 1] + [0, 5, -2, 100, 0]).astype(np.float32)
X[:, 4] = 3.25  # constant feature
X[rng.rand(R, D) < 0.15] = np.nan
X[:, 4][0] = np.nan
arr("ref_prep_x", X, "float")
out.append("#define REF_PREP_R %d" % R)
out.append("#define REF_PREP_D %d" % D)
X64 = X.astype(np.float64)
for tag, wm, ws in (("std", True, True), ("std_nomean", False, True), ("std_nostd", True, False)):
    s = StandardScaler(with_mean=wm, with_std=ws).fit(X64)
    arr("ref_%s_mean" % tag, s.mean_)
    arr("ref_%s_var" % tag, s.var_ if s.var_ is not None else np.full(D, np.nan))
    arr("ref_%s_scale" % tag, s.scale_ if s.scale_ is not None else np.ones(D))
    arr("ref_%s_out" % tag, s.transform(X64))
m = MinMaxScaler(feature_range=(-1, 2)).fit(X64)  # float64: sklearn in float32 loses ~4e-6 to cancellation
arr("ref_mm_scale", m.scale_)
arr("ref_mm_min", m.min_)
arr("ref_mm_out", m.transform(X64))
# imputer input: an all-NaN column, ties for most_frequent, even counts for the median
XI = np.round(rng.rand(9, 4) * 4).astype(np.float32)
XI[:, 2] = np.nan
XI[[0, 3, 5], 0] = np.nan
XI[:, 3] = [1, 2, 2, 1, 5, np.nan, 7, 8, np.nan]  # 1 and 2 tie for most frequent: 1 wins
arr("ref_imp_x", XI, "float")
out.append("#define REF_IMP_R %d" % XI.shape[0])
out.append("#define REF_IMP_D %d" % XI.shape[1])
for si, strat in enumerate(("mean", "median", "most_frequent", "constant")):
    for keep in (0, 1):
        im = SimpleImputer(strategy=strat, fill_value=7.0 if strat == "constant" else None,
                           keep_empty_features=bool(keep)).fit(XI.astype(np.float64))
        arr("ref_imp%d_%d_stats" % (si, keep), im.statistics_)
        t = im.transform(XI.astype(np.float64))
        arr("ref_imp%d_%d_out" % (si, keep), t)
        out.append("#define REF_IMP%d_%d_W %d" % (si, keep, t.shape[1]))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics_ref.h")
with open(path, "w") as f:
    f.write("/* Generated by tests/ref/gen_metrics.py with scikit-learn %s, numpy %s. Do not edit. */\n"
            % (sklearn.__version__, np.__version__))
    f.write("#ifndef METRICS_REF_H\n#define METRICS_REF_H\n#include <math.h>\n#include <stddef.h>\n")
    f.write("\n".join(out))
    f.write("\n#endif\n")
print("wrote", path)
