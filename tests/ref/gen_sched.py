#!/usr/bin/env python3
"""Golden values for tests/test_sched.c: lr (and momentum) sequences of torch.optim.lr_scheduler
over >= 30 step() calls, ReduceLROnPlateau on fixed metric sequences, and clip_grad_norm_ /
clip_grad_value_ results. Writes tests/ref/sched_ref.h. Run: python3 tests/ref/gen_sched.py"""
import math
import os
import warnings

import torch
from torch.optim import lr_scheduler as L

warnings.filterwarnings("ignore")
torch.manual_seed(0)

N = 40  # step() calls per schedule (the sequences have N + 1 values)
out = []


def carr(name, vals, ctype="double"):
    body = ", ".join("%.17g" % v for v in vals)
    out.append("static const %s %s[%d] = {%s};" % (ctype, name, len(vals), body))


def optimizer(lr):
    p = torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([p], lr=lr, momentum=0.9)


def run(name, make, base_lr=0.1, steps=N, momentum=False, metrics=None, epochs=None):
    opt = optimizer(base_lr)
    s = make(opt)
    lrs = [opt.param_groups[0]["lr"]]
    moms = [opt.param_groups[0]["momentum"]]
    for i in range(steps):
        opt.step()
        if metrics is not None:
            s.step(metrics[i])
        elif epochs is not None:
            s.step(epochs[i])
        else:
            s.step()
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
    carr("ref_%s_lr" % name, lrs)
    if momentum:
        carr("ref_%s_mom" % name, moms)


# --- the simple schedules (C side uses the same lambdas: 0.95^e and 0.97) ---
run("lambda", lambda o: L.LambdaLR(o, lambda e: 0.95 ** e))
run("multiplicative", lambda o: L.MultiplicativeLR(o, lambda e: 0.97))
run("step", lambda o: L.StepLR(o, step_size=3, gamma=0.5))
run("multistep", lambda o: L.MultiStepLR(o, milestones=[2, 5, 9, 20], gamma=0.1))
run("multistep_dup", lambda o: L.MultiStepLR(o, milestones=[3, 3, 10], gamma=0.5))
run("constant", lambda o: L.ConstantLR(o))
run("constant2", lambda o: L.ConstantLR(o, factor=0.5, total_iters=10))
run("linear", lambda o: L.LinearLR(o))
run("linear_decay", lambda o: L.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20))
run("exponential", lambda o: L.ExponentialLR(o, gamma=0.9))
run("poly", lambda o: L.PolynomialLR(o, total_iters=5, power=2.0))
run("poly2", lambda o: L.PolynomialLR(o, total_iters=20, power=0.5))
run("cosine", lambda o: L.CosineAnnealingLR(o, T_max=5, eta_min=0.01))
run("cosine2", lambda o: L.CosineAnnealingLR(o, T_max=10))
run("restarts", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01))
run("restarts1", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=5))
FRAC = [i * 0.37 for i in range(1, N + 1)]
carr("ref_restarts_frac_epochs", FRAC)
run("restarts_frac", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2, eta_min=0.001),
    epochs=FRAC)
run("restarts_frac1", lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=1),
    epochs=FRAC)

# --- cyclic (momentum cycles too) ---
run("cyclic_tri", lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3), momentum=True)
run("cyclic_tri_asym", lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=5), momentum=True)
run("cyclic_tri2", lambda o: L.CyclicLR(o, 0.001, 0.1, step_size_up=2, step_size_down=3,
                                        mode="triangular2", base_momentum=0.7, max_momentum=0.95),
    momentum=True)
run("cyclic_exp", lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, mode="exp_range", gamma=0.97),
    momentum=True)

# --- one cycle: N steps allowed with total_steps = N ---
run("onecycle_cos", lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=N), momentum=True)
run("onecycle_lin", lambda o: L.OneCycleLR(o, max_lr=0.5, total_steps=N, anneal_strategy="linear",
                                           pct_start=0.25), momentum=True)
run("onecycle_3cos", lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=N, three_phase=True), momentum=True)
run("onecycle_3lin", lambda o: L.OneCycleLR(o, max_lr=0.2, epochs=4, steps_per_epoch=10,
                                            anneal_strategy="linear", three_phase=True, div_factor=10.0,
                                            final_div_factor=100.0, base_momentum=0.8,
                                            max_momentum=0.9), momentum=True)
run("onecycle_13", lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=13), steps=12)

# --- plateau on fixed metric sequences ---
M1 = [1.0] * 6 + [0.5] * 6 + [0.49999] * 4 + [0.4, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46] + [0.3] * 17
carr("ref_plateau_metrics1", M1)
run("plateau_min", lambda o: L.ReduceLROnPlateau(o, patience=2, factor=0.5), metrics=M1)
M2 = [0.1 * i for i in range(10)] + [0.9 + 0.001 * i for i in range(10)] + [0.95 - 0.01 * i for i in range(20)]
carr("ref_plateau_metrics2", M2)
run("plateau_max_abs", lambda o: L.ReduceLROnPlateau(o, mode="max", threshold=0.005, threshold_mode="abs",
                                                     patience=1, cooldown=2, factor=0.3, min_lr=0.002),
    metrics=M2)
run("plateau_eps", lambda o: L.ReduceLROnPlateau(o, mode="max", threshold=0.01, factor=0.9, patience=0,
                                                 eps=0.005), base_lr=0.05, metrics=M2)

# --- option structs: torch defaults, and literal zeros ---
run("cyclic_default", lambda o: L.CyclicLR(o, 0.01, 0.1), momentum=True)  # step_size_up 2000
run("cyclic_down0", lambda o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=0), momentum=True)
run("cyclic_zeros", lambda o: L.CyclicLR(o, 0.0, 0.1, step_size_up=3, base_momentum=0.0), momentum=True)
run("onecycle_zeros", lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=N, pct_start=0.0,
                                             base_momentum=0.0), momentum=True)
run("plateau_default", lambda o: L.ReduceLROnPlateau(o), metrics=M1)
run("plateau_zeros", lambda o: L.ReduceLROnPlateau(o, patience=0, threshold=0.0, eps=0.0, factor=0.5),
    metrics=M1)
run("plateau_factor0", lambda o: L.ReduceLROnPlateau(o, patience=3, factor=0.0), metrics=M1)

# --- composites ---
run("seq_warm_cos", lambda o: L.SequentialLR(
    o, [L.LinearLR(o, start_factor=0.1, total_iters=5), L.CosineAnnealingLR(o, T_max=25, eta_min=0.001)],
    milestones=[5]))
run("seq3", lambda o: L.SequentialLR(
    o, [L.ConstantLR(o, factor=0.5, total_iters=3), L.ExponentialLR(o, gamma=0.9),
        L.StepLR(o, step_size=4, gamma=0.5)], milestones=[6, 15]))
run("seq_mult", lambda o: L.SequentialLR(
    o, [L.LinearLR(o, start_factor=0.5, total_iters=4), L.MultiplicativeLR(o, lambda e: 0.97)],
    milestones=[8]))
run("chain", lambda o: L.ChainedScheduler([L.ConstantLR(o, factor=0.1, total_iters=4),
                                           L.ExponentialLR(o, gamma=0.9)]))
run("chain3", lambda o: L.ChainedScheduler([L.LinearLR(o, start_factor=0.2, total_iters=6),
                                            L.CosineAnnealingLR(o, T_max=12, eta_min=0.0),
                                            L.StepLR(o, step_size=10, gamma=0.5)]))
# tt_sched_init_warmup_cosine(base 0.1, warmup 6, total 40, start 0.01, eta_min 1e-4)
run("warmup_cosine", lambda o: L.SequentialLR(
    o, [L.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=6),
        L.CosineAnnealingLR(o, T_max=34, eta_min=1e-4)], milestones=[6]))

# --- gradient clipping ---
shapes = [(3, 4), (5,), (2, 3, 2)]
grads = [torch.randn(*s) for s in shapes]
flat = torch.cat([g.reshape(-1) for g in grads])
carr("ref_clip_in", flat.tolist(), "float")


def clip_case(name, max_norm, norm_type):
    ps = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    tn = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    carr("ref_clip_%s_out" % name, torch.cat([p.grad.reshape(-1) for p in ps]).tolist(), "float")
    out.append("static const double ref_clip_%s_norm = %.17g;" % (name, float(tn)))


clip_case("l2", 1.0, 2.0)
clip_case("l2_noclip", 100.0, 2.0)
clip_case("inf", 0.5, math.inf)
clip_case("l1", 2.0, 1.0)
# p-norms other than 1, 2, inf (norm of the per-tensor norms, as torch)
clip_case("p3", 1.0, 3.0)
clip_case("p05", 20.0, 0.5)
clip_case("p3_noclip", 100.0, 3.0)
ps = [torch.nn.Parameter(torch.zeros(*s)) for s in shapes]
for p, g in zip(ps, grads):
    p.grad = g.clone()
torch.nn.utils.clip_grad_value_(ps, 0.5)
carr("ref_clip_value_out", torch.cat([p.grad.reshape(-1) for p in ps]).tolist(), "float")

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sched_ref.h")
with open(path, "w") as f:
    f.write("/* Generated by tests/ref/gen_sched.py with torch %s. Do not edit. */\n" % torch.__version__)
    f.write("#ifndef SCHED_REF_H\n#define SCHED_REF_H\n")
    f.write("#define REF_SCHED_STEPS %d\n" % N)
    f.write("\n".join(out))
    f.write("\n#endif\n")
print("wrote", path)
