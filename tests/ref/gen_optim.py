"""Golden trajectories for tests/test_optim.c, generated with PyTorch (torch.optim) in float32.

Problem: parameters of a few shapes, gradient g_t = a*theta - b + k_t*d (elementwise, float32,
identical arithmetic in C), optionally with whole rows zeroed (SparseAdam). After every step all
parameters are recorded (as float32 bit patterns). Lion and LAMB have no torch class: their
reference below is written from the authors' code (google/automl lion_pytorch.py, timm lamb.py).
LBFGS runs on a Rosenbrock function with the same float32 gradient formula as the C test.

Hyperparameters are written as C statements applied to tt_optim_desc_init(kind): only the
arguments given to the torch constructor are set, so torch's defaults are checked too.
The *_eps configurations use a large eps (1e-2 .. 1e-1) so that where eps enters the update
(inside or outside a square root, before or after the bias correction) changes the result.
SCHED_CONFIGS attach a torch lr scheduler (stepped after every opt.step()); OneCycleLR and
CyclicLR also cycle SGD's momentum / Adam's beta1.

Run:  python3 tests/ref/gen_optim.py > tests/ref/optim_ref.h
"""
import math
import struct
import sys

import numpy as np
import torch

torch.set_num_threads(1)
NSTEPS = 50
PROBS = {
    0: [(4, 5), (3,), (2, 3, 2), (1,)],   # mixed shapes (2-D, 1-D, 3-D, single element)
    1: [(4, 5), (6, 3)],                  # 2-D only (Muon); (6,3) has rows > cols
}
rng = np.random.RandomState(1234)


def make_prob(shapes):
    n = sum(int(np.prod(s)) for s in shapes)
    return dict(
        shapes=shapes, n=n,
        init=rng.uniform(-1, 1, n).astype(np.float32),
        a=rng.uniform(0.5, 2.0, n).astype(np.float32),
        b=rng.uniform(-1, 1, n).astype(np.float32),
        d=rng.uniform(-0.5, 0.5, n).astype(np.float32),
    )


prob = {k: make_prob(v) for k, v in PROBS.items()}
ksteps = (np.sin(np.arange(1, NSTEPS + 1) * 0.7) * 0.8).astype(np.float32)


def split(flat, shapes):
    out, o = [], 0
    for s in shapes:
        m = int(np.prod(s))
        out.append(flat[o:o + m].reshape(s))
        o += m
    return out


def row_mask(shape, ti, step):
    """1 where the gradient is kept; a row (slice along dim 0) is dropped if (r+step+ti)%3 == 0."""
    m = np.ones(shape, np.float32)
    for r in range(shape[0]):
        if (r + step + ti) % 3 == 0:
            m[r] = 0
    return torch.from_numpy(m)


def grads(P, params, step, masked):
    ks = torch.tensor(ksteps[step - 1])
    A, B, D = (split(torch.from_numpy(P[k]), P['shapes']) for k in ('a', 'b', 'd'))
    out = []
    for i, p in enumerate(params):
        g = A[i] * p.detach() - B[i] + ks * D[i]
        if masked:
            g = g * row_mask(P['shapes'][i], i, step)
        out.append(g)
    return out


class Lion:
    """google/automl lion/lion_pytorch.py (and lucidrains/lion-pytorch), plus maximize."""
    def __init__(self, groups):
        self.groups = groups
        self.m = {}

    @torch.no_grad()
    def step(self):
        for gr in self.groups:
            lr, (b1, b2), wd = gr['lr'], gr.get('betas', (0.9, 0.99)), gr.get('weight_decay', 0.0)
            for p in gr['params']:
                g = -p.grad if gr.get('maximize', False) else p.grad
                m = self.m.setdefault(id(p), torch.zeros_like(p))
                p.mul_(1 - lr * wd)
                update = m * b1 + g * (1 - b1)
                p.add_(torch.sign(update), alpha=-lr)
                m.mul_(b2).add_(g, alpha=1 - b2)


class Lamb:
    """timm/optim/lamb.py (grad_averaging=True), plus maximize; gradients are not modified."""
    def __init__(self, groups, max_grad_norm=1.0):
        self.groups = groups
        self.max_grad_norm = max_grad_norm
        self.st = {}
        self.t = 0

    @torch.no_grad()
    def step(self):
        one = torch.tensor(1.0)
        norms = [torch.linalg.vector_norm(p.grad) for gr in self.groups for p in gr['params']]
        gn = torch.linalg.vector_norm(torch.stack(norms))
        clip = one
        if self.max_grad_norm is not None:
            mx = torch.tensor(self.max_grad_norm)
            clip = torch.where(gn > mx, gn / mx, one)
        self.t += 1
        for gr in self.groups:
            b1, b2 = gr.get('betas', (0.9, 0.999))
            eps, wd = gr.get('eps', 1e-6), gr.get('weight_decay', 0.01)
            if gr.get('bias_correction', True):
                bc1, bc2 = 1 - b1 ** self.t, 1 - b2 ** self.t
            else:
                bc1, bc2 = 1.0, 1.0
            for p in gr['params']:
                g = -p.grad if gr.get('maximize', False) else p.grad
                g = g / clip
                m, v = self.st.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v.sqrt() / math.sqrt(bc2)).add_(eps)
                update = (m / bc1).div_(denom)
                if wd != 0:
                    update.add_(p, alpha=wd)
                if wd != 0 or gr.get('always_adapt', False):
                    w_norm = p.norm(2.0)
                    g_norm = update.norm(2.0)
                    tr = torch.where(w_norm > 0, torch.where(g_norm > 0, w_norm / g_norm, one), one)
                    if gr.get('trust_clip', False):
                        tr = torch.minimum(tr, one)
                    update.mul_(tr)
                p.add_(update, alpha=-gr['lr'])


O = torch.optim
L = torch.optim.lr_scheduler
# name, C kind, torch class (or Lion/Lamb), problem, kwargs, options
CONFIGS = [
    ('sgd', 'SGD', O.SGD, 0, dict(lr=0.05), {}),
    ('sgd_momentum_dampening_wd', 'SGD', O.SGD, 0, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), {}),
    ('sgd_nesterov_wd', 'SGD', O.SGD, 0, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01), {}),
    ('sgd_maximize', 'SGD', O.SGD, 0, dict(lr=0.01, momentum=0.5, maximize=True), {}),
    ('adam', 'ADAM', O.Adam, 0, dict(lr=0.05), {}),
    ('adam_l2_amsgrad', 'ADAM', O.Adam, 0, dict(lr=0.05, weight_decay=0.1, amsgrad=True), {}),
    ('adam_decoupled', 'ADAM', O.Adam, 0, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True), {}),
    ('adam_maximize', 'ADAM', O.Adam, 0, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, maximize=True), {}),
    ('adamw', 'ADAMW', O.AdamW, 0, dict(lr=0.05), {}),
    ('adamw_amsgrad', 'ADAMW', O.AdamW, 0, dict(lr=0.05, weight_decay=0.1, amsgrad=True), {}),
    ('adamw_beta1_zero', 'ADAMW', O.AdamW, 0, dict(lr=0.05, betas=(0.0, 0.99), weight_decay=0.0), {}),
    ('adagrad', 'ADAGRAD', O.Adagrad, 0, dict(lr=0.1), {}),
    ('adagrad_all', 'ADAGRAD', O.Adagrad, 0, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1, eps=1e-8), {}),
    ('rmsprop', 'RMSPROP', O.RMSprop, 0, dict(lr=0.01), {}),
    ('rmsprop_momentum', 'RMSPROP', O.RMSprop, 0, dict(lr=0.01, momentum=0.5, alpha=0.9), {}),
    ('rmsprop_centered_momentum_wd', 'RMSPROP', O.RMSprop, 0, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01), {}),
    ('rmsprop_centered_maximize', 'RMSPROP', O.RMSprop, 0, dict(lr=0.001, centered=True, maximize=True), {}),
    ('adadelta', 'ADADELTA', O.Adadelta, 0, dict(), {}),
    ('adadelta_wd', 'ADADELTA', O.Adadelta, 0, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01, maximize=True), {}),
    ('adamax', 'ADAMAX', O.Adamax, 0, dict(lr=0.05), {}),
    ('adamax_wd', 'ADAMAX', O.Adamax, 0, dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.99)), {}),
    ('nadam', 'NADAM', O.NAdam, 0, dict(lr=0.05), {}),
    ('nadam_l2', 'NADAM', O.NAdam, 0, dict(lr=0.05, weight_decay=0.1, momentum_decay=0.01), {}),
    ('nadam_decoupled', 'NADAM', O.NAdam, 0, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True), {}),
    ('radam', 'RADAM', O.RAdam, 0, dict(lr=0.05), {}),
    ('radam_l2', 'RADAM', O.RAdam, 0, dict(lr=0.05, weight_decay=0.1), {}),
    ('radam_decoupled', 'RADAM', O.RAdam, 0, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True), {}),
    ('asgd', 'ASGD', O.ASGD, 0, dict(lr=0.05), {}),
    ('asgd_t0_wd', 'ASGD', O.ASGD, 0, dict(lr=0.05, lambd=0.01, alpha=0.6, t0=10, weight_decay=0.01), dict(ax=1)),
    ('rprop', 'RPROP', O.Rprop, 0, dict(lr=0.01), {}),
    ('rprop_custom', 'RPROP', O.Rprop, 0, dict(lr=0.02, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=True), {}),
    ('adafactor', 'ADAFACTOR', O.Adafactor, 0, dict(lr=0.01), {}),
    ('adafactor_all', 'ADAFACTOR', O.Adafactor, 0, dict(lr=0.05, beta2_decay=-0.5, eps=(1e-6, 1e-2), d=2.0, weight_decay=0.1, maximize=True), {}),
    ('sparse_adam', 'SPARSE_ADAM', O.SparseAdam, 0, dict(lr=0.05), dict(masked=1)),
    ('sparse_adam_maximize', 'SPARSE_ADAM', O.SparseAdam, 0, dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, maximize=True), dict(masked=1)),
    ('muon', 'MUON', O.Muon, 1, dict(lr=0.02), {}),
    ('muon_plain_matchrms', 'MUON', O.Muon, 1, dict(lr=0.02, nesterov=False, momentum=0.9, weight_decay=0.0, adjust_lr_fn='match_rms_adamw', ns_steps=3), {}),
    ('lion', 'LION', Lion, 0, dict(lr=0.01), {}),
    ('lion_wd_maximize', 'LION', Lion, 0, dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.1, maximize=True), {}),
    ('lamb', 'LAMB', Lamb, 0, dict(lr=0.02), {}),
    ('lamb_noclip_nowd', 'LAMB', Lamb, 0, dict(lr=0.02, weight_decay=0.0), dict(max_grad_norm=None)),
    ('lamb_adapt_trustclip_nobc', 'LAMB', Lamb, 0, dict(lr=0.02, weight_decay=0.1, always_adapt=True, trust_clip=True, bias_correction=False, eps=1e-5), dict(max_grad_norm=5.0)),
    # two groups: params 0,2 in group 0; params 1,3 in group 1; param 3 TT_NO_DECAY (weight_decay 0)
    ('adam_groups', 'ADAM', O.Adam, 0, dict(lr=0.05, weight_decay=0.1), dict(groups=dict(lr=0.01, weight_decay=0.2, amsgrad=True))),
    ('sgd_groups', 'SGD', O.SGD, 0, dict(lr=0.05, momentum=0.9, weight_decay=0.01), dict(groups=dict(lr=0.02, momentum=0.5, weight_decay=0.05))),
    # large eps: where eps enters the update matters
    ('rmsprop_eps', 'RMSPROP', O.RMSprop, 0, dict(lr=0.01, eps=0.05), {}),
    ('rmsprop_centered_eps', 'RMSPROP', O.RMSprop, 0, dict(lr=0.01, eps=0.1, centered=True, momentum=0.5), {}),
    ('adagrad_eps', 'ADAGRAD', O.Adagrad, 0, dict(lr=0.1, eps=0.05), {}),
    ('adadelta_eps', 'ADADELTA', O.Adadelta, 0, dict(lr=0.5, eps=0.02), {}),
    ('adam_eps', 'ADAM', O.Adam, 0, dict(lr=0.05, eps=0.05), {}),
    ('adam_amsgrad_eps', 'ADAM', O.Adam, 0, dict(lr=0.05, eps=0.1, amsgrad=True), {}),
    ('adamw_eps', 'ADAMW', O.AdamW, 0, dict(lr=0.05, eps=0.03), {}),
    ('adamax_eps', 'ADAMAX', O.Adamax, 0, dict(lr=0.05, eps=0.05), {}),
    ('nadam_eps', 'NADAM', O.NAdam, 0, dict(lr=0.05, eps=0.05), {}),
    ('radam_eps', 'RADAM', O.RAdam, 0, dict(lr=0.05, eps=0.1), {}),
    ('sparse_adam_eps', 'SPARSE_ADAM', O.SparseAdam, 0, dict(lr=0.05, eps=0.05), dict(masked=1)),
    ('adafactor_eps', 'ADAFACTOR', O.Adafactor, 0, dict(lr=0.05, eps=(0.05, 1e-3)), {}),
    ('lamb_eps', 'LAMB', Lamb, 0, dict(lr=0.02, eps=0.05), {}),
    # explicit zeros where torch's default is not zero
    ('adamw_wd_zero', 'ADAMW', O.AdamW, 0, dict(lr=0.05, weight_decay=0.0), {}),
    ('muon_wd_zero', 'MUON', O.Muon, 1, dict(lr=0.02, weight_decay=0.0), {}),
]

# name, C kind, torch class, optimizer kwargs, scheduler (class, kwargs); one group, problem 0
SCHED_CONFIGS = [
    ('adam_onecycle', 'ADAM', O.Adam, dict(lr=0.05), (L.OneCycleLR, dict(max_lr=0.1, total_steps=NSTEPS))),
    ('adamw_onecycle3_linear', 'ADAMW', O.AdamW, dict(lr=0.05, weight_decay=0.05),
     (L.OneCycleLR, dict(max_lr=0.08, total_steps=NSTEPS, three_phase=True, anneal_strategy='linear', base_momentum=0.8, max_momentum=0.9))),
    ('sgd_cyclic', 'SGD', O.SGD, dict(lr=0.05, momentum=0.9), (L.CyclicLR, dict(base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=7))),
    ('rmsprop_cyclic', 'RMSPROP', O.RMSprop, dict(lr=0.01, momentum=0.5), (L.CyclicLR, dict(base_lr=0.001, max_lr=0.01, step_size_up=4))),
    ('nadam_cosine', 'NADAM', O.NAdam, dict(lr=0.05), (L.CosineAnnealingLR, dict(T_max=20, eta_min=0.001))),
]

FLOAT_FIELDS = ['weight_decay', 'momentum', 'dampening', 'eps', 'alpha', 'rho', 'lr_decay',
                'initial_accumulator_value', 'momentum_decay', 'lambd', 't0', 'beta2_decay', 'd']
BOOL_FIELDS = ['nesterov', 'centered', 'amsgrad', 'decoupled_weight_decay', 'maximize', 'trust_clip',
               'always_adapt', 'bias_correction']


def cf(v):
    r = '%.9g' % float(v)
    return r + ('f' if ('.' in r or 'e' in r) else '.0f')


def cd(v):
    r = '%.17g' % float(v)
    return r if ('.' in r or 'e' in r) else r + '.0'


def c_assign(h, kw, opts):
    """C statements setting the torch constructor arguments kw on the hparams pointer h."""
    f = []
    for k, v in kw.items():
        if k == 'eps' and isinstance(v, tuple):
            f.append('%s->eps = %s; %s->eps2 = %s;' % (h, cf(v[0]), h, cf(v[1])))
        elif k == 'lr':
            f.append('%s->lr = %s;' % (h, cd(v)))
        elif k in FLOAT_FIELDS:
            f.append('%s->%s = %s;' % (h, k, cf(v)))
        elif k in BOOL_FIELDS:
            f.append('%s->%s = %d;' % (h, k, 1 if v else 0))
        elif k == 'betas':
            f.append('%s->beta1 = %s; %s->beta2 = %s;' % (h, cf(v[0]), h, cf(v[1])))
        elif k == 'etas':
            f.append('%s->eta_minus = %s; %s->eta_plus = %s;' % (h, cf(v[0]), h, cf(v[1])))
        elif k == 'step_sizes':
            f.append('%s->step_min = %s; %s->step_max = %s;' % (h, cf(v[0]), h, cf(v[1])))
        elif k == 'ns_steps':
            f.append('%s->ns_steps = %d;' % (h, v))
        elif k == 'adjust_lr_fn':
            f.append('%s->muon_adjust = TT_MUON_ADJUST_MATCH_RMS_ADAMW;' % h)
        else:
            raise ValueError(k)
    if 'max_grad_norm' in opts:
        f.append('%s->max_grad_norm = %s;' % (h, 'INFINITY' if opts['max_grad_norm'] is None else cf(opts['max_grad_norm'])))
    return f


def c_setter(name, kw, opts):
    body = ['tt_optim_hparams *h = &d->hp;'] + c_assign('h', kw, opts)
    if 'groups' in opts:
        body.append('{ tt_optim_hparams *g1 = tt_optim_desc_group(d, 1);')
        body += ['  ' + x for x in c_assign('g1', opts['groups'], {})]
        body.append('}')
    return 'static void optim_ref_set_%s(tt_optim_desc *d) {\n    %s\n    (void)h;\n}\n' % (name, '\n    '.join(body))


def bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def run_config(cls, P, kw, opts, sched=None):
    flat = torch.from_numpy(P['init'].copy())
    params = [t.clone().requires_grad_(True) for t in split(flat, P['shapes'])]
    if 'groups' in opts:
        g1 = dict(kw)
        g1.update(opts['groups'])
        g3 = dict(g1)
        g3['weight_decay'] = 0.0
        groups = [dict(params=[params[0], params[2]], **kw), dict(params=[params[1]], **g1),
                  dict(params=[params[3]], **g3)]
    else:
        groups = [dict(params=params, **kw)]
    if cls is Lion:
        opt = Lion(groups)
    elif cls is Lamb:
        opt = Lamb(groups, opts.get('max_grad_norm', 1.0))
    else:
        opt = cls(groups) if 'groups' in opts else cls(params, **kw)
    sch = sched[0](opt, **sched[1]) if sched else None
    traj, axs = [], []
    for step in range(1, NSTEPS + 1):
        gs = grads(P, params, step, opts.get('masked', 0))
        for p, g in zip(params, gs):
            p.grad = g.to_sparse(1) if opts.get('masked', 0) else g
        opt.step()
        if sch is not None:
            sch.step()
        traj.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
        if opts.get('ax'):
            axs.append(np.concatenate([opt.state[p]['ax'].numpy().ravel() for p in params]))
    return np.array(traj), (np.array(axs) if axs else None)


def rosen_loss_grad(x):
    """float32 Rosenbrock over a flat vector; loss summed in double (same order as C)."""
    t1 = x[1:] - x[:-1] * x[:-1]
    terms = 100 * (t1 * t1) + (1 - x[:-1]) * (1 - x[:-1])
    g = torch.zeros_like(x)
    g[:-1] += (-400 * x[:-1]) * t1 - 2 * (1 - x[:-1])
    g[1:] += 200 * t1
    return sum(float(v) for v in terms.tolist()), g


def quad_loss_grad(x):
    """float32 coupled quadratic: sum 0.5*qa*(x-qc)^2 + 0.25*sum (x_i - x_{i+1})^2."""
    qa = torch.from_numpy(QA)
    qc = torch.from_numpy(QC)
    r = x - qc
    dx = x[:-1] - x[1:]
    terms = 0.5 * (qa * (r * r))
    cterms = 0.25 * (dx * dx)
    g = qa * r
    g[:-1] += 0.5 * dx
    g[1:] -= 0.5 * dx
    return sum(float(v) for v in terms.tolist()) + sum(float(v) for v in cterms.tolist()), g


QA = rng.uniform(1, 10, 7).astype(np.float32)
QC = rng.uniform(-1, 1, 7).astype(np.float32)
LBFGS_SHAPES = [(2, 2), (3,)]
LBFGS_INIT = np.array([-1.2, 1.0, -0.5, 0.8, 1.5, -0.3, 0.2], np.float32)
LBFGS_STEPS = 50
# name, function (0 Rosenbrock, 1 quadratic), kwargs
LBFGS_CONFIGS = [
    ('lbfgs_quad_fixed', 1, dict(lr=0.1, max_iter=2, history_size=3)),
    ('lbfgs_quad_wolfe', 1, dict(max_iter=2, history_size=3, line_search_fn='strong_wolfe')),
    ('lbfgs_rosen_fixed', 0, dict(lr=0.05, max_iter=4, history_size=3)),
    ('lbfgs_rosen_wolfe', 0, dict(lr=1.0, max_iter=4, history_size=3, line_search_fn='strong_wolfe')),
    ('lbfgs_rosen_wolfe_default_iters', 0, dict(line_search_fn='strong_wolfe', history_size=5)),
]


def run_lbfgs(fn, kw):
    params = [t.clone().requires_grad_(True) for t in split(torch.from_numpy(LBFGS_INIT.copy()), LBFGS_SHAPES)]
    opt = O.LBFGS(params, **kw)

    def closure():
        x = torch.cat([p.detach().reshape(-1) for p in params])
        loss, g = (quad_loss_grad if fn else rosen_loss_grad)(x)
        for p, gg in zip(params, split(g, LBFGS_SHAPES)):
            p.grad = gg.clone()
        return loss

    traj, losses = [], []
    for _ in range(LBFGS_STEPS):
        losses.append(opt.step(closure))
        traj.append(np.concatenate([p.detach().numpy().ravel() for p in params]))
    return np.array(traj), np.array(losses)


def emit_u32(name, arr):
    a = bits(arr).ravel()
    lines = []
    for i in range(0, len(a), 8):
        lines.append('    ' + ', '.join('0x%08xu' % v for v in a[i:i + 8]) + ',')
    return 'static const uint32_t %s[%d] = {\n%s\n};\n' % (name, len(a), '\n'.join(lines))


def main():
    o = sys.stdout
    o.write('/* Generated by tests/ref/gen_optim.py with torch %s: do not edit. */\n' % torch.__version__)
    o.write('#ifndef OPTIM_REF_H\n#define OPTIM_REF_H\n#include <stdint.h>\n\n')
    o.write('#define OPTIM_REF_NSTEPS %d\n' % NSTEPS)
    for k, P in prob.items():
        shapes = P['shapes']
        o.write('static const int optim_ref_p%d_nt = %d;\n' % (k, len(shapes)))
        o.write('static const int optim_ref_p%d_ndim[%d] = {%s};\n' % (k, len(shapes), ', '.join(str(len(s)) for s in shapes)))
        o.write('static const int optim_ref_p%d_shape[%d][3] = {%s};\n' % (
            k, len(shapes), ', '.join('{' + ', '.join(str(x) for x in (list(s) + [0, 0])[:3]) + '}' for s in shapes)))
        o.write('#define OPTIM_REF_P%d_N %d\n' % (k, P['n']))
        for f in ('init', 'a', 'b', 'd'):
            o.write(emit_u32('optim_ref_p%d_%s' % (k, f), P[f]))
    o.write(emit_u32('optim_ref_k', ksteps))
    o.write('\ntypedef struct optim_ref_cfg {\n    const char *name;\n    tt_optim_kind kind;\n    int prob, masked, groups;\n'
            '    void (*set)(tt_optim_desc *d);\n    const uint32_t *traj, *ax;\n} optim_ref_cfg;\n\n')
    rows = []
    for name, kind, cls, pk, kw, opts in CONFIGS:
        traj, ax = run_config(cls, prob[pk], kw, opts)
        o.write(emit_u32('optim_ref_traj_%s' % name, traj))
        if ax is not None:
            o.write(emit_u32('optim_ref_ax_%s' % name, ax))
        o.write(c_setter(name, kw, opts))
        rows.append('    {"%s", TT_OPTIM_%s, %d, %d, %d, optim_ref_set_%s, optim_ref_traj_%s, %s},' % (
            name, kind, pk, opts.get('masked', 0), 1 if 'groups' in opts else 0, name, name,
            ('optim_ref_ax_%s' % name) if ax is not None else 'NULL'))
    o.write('static const optim_ref_cfg optim_ref_cfgs[] = {\n%s\n};\n\n' % '\n'.join(rows))
    # attached schedules: the C test builds the same schedule by name
    rows = []
    for name, kind, cls, kw, sched in SCHED_CONFIGS:
        traj, _ = run_config(cls, prob[0], kw, {}, sched)
        o.write(emit_u32('optim_ref_traj_%s' % name, traj))
        o.write(c_setter(name, kw, {}))
        rows.append('    {"%s", TT_OPTIM_%s, 0, 0, 0, optim_ref_set_%s, optim_ref_traj_%s, NULL},' % (name, kind, name, name))
    o.write('static const optim_ref_cfg optim_ref_sched_cfgs[] = {\n%s\n};\n\n' % '\n'.join(rows))
    # LBFGS
    o.write('#define OPTIM_REF_LBFGS_STEPS %d\n#define OPTIM_REF_LBFGS_N %d\n' % (LBFGS_STEPS, len(LBFGS_INIT)))
    o.write(emit_u32('optim_ref_lbfgs_init', LBFGS_INIT))
    o.write(emit_u32('optim_ref_quad_a', QA))
    o.write(emit_u32('optim_ref_quad_c', QC))
    o.write('typedef struct optim_ref_lbfgs {\n    const char *name;\n    int fn;\n    double lr;\n    int max_iter, max_eval, history_size, strong_wolfe;\n'
            '    const uint32_t *traj;\n    const double *loss;\n} optim_ref_lbfgs;\n')
    rows = []
    for name, fn, kw in LBFGS_CONFIGS:
        traj, losses = run_lbfgs(fn, kw)
        o.write(emit_u32('optim_ref_lbfgs_traj_%s' % name, traj))
        o.write('static const double optim_ref_lbfgs_loss_%s[%d] = {%s};\n' % (
            name, len(losses), ', '.join('%.17g' % v for v in losses)))
        mi = kw.get('max_iter', 20)
        rows.append('    {"%s", %d, %s, %d, %d, %d, %d, optim_ref_lbfgs_traj_%s, optim_ref_lbfgs_loss_%s},' % (
            name, fn, cd(kw.get('lr', 1.0)), mi, kw.get('max_eval', mi * 5 // 4),
            kw.get('history_size', 100), 1 if kw.get('line_search_fn') else 0, name, name))
    o.write('static const optim_ref_lbfgs optim_ref_lbfgs_cfgs[] = {\n%s\n};\n' % '\n'.join(rows))
    o.write('#endif\n')


main()
