"""gzx's Adam debiasing against fastai's, on a weight that first trains after `before` optimiser
steps of another weight (a backbone weight after a frozen phase): same gradients, rate 1e-3,
beta1 0.9, beta2 0.99, eps 1e-5, decoupled wd 1e-4. Columns: fastai's Adam (per-weight step count),
gzx's Optimizer (bench/parity/recipe-adam-check.mjs, from dist/), and fastai's Adam with the global
step count that fastai_twin.py --like-gzx uses (gzx until a per-weight count replaced it in d9b9ea1;
since then gzx equals fastai's per-weight column).

    npx tsc -p tsconfig.json && $GZX_PARITY_VENV/bin/python bench/parity/recipe-adam-check.py [before] [after]
"""
import json
import math
import subprocess
import sys
import warnings
from functools import partial
from pathlib import Path

import torch
from fastai.optimizer import Adam, Optimizer, adam_step, average_grad, average_sqr_grad, weight_decay

warnings.filterwarnings("ignore")
before, after = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (25, 8)
HP = dict(lr=1e-3, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=1e-4)


def global_step_adam(params):
    count = [0]
    o = Optimizer(params, [weight_decay, partial(average_grad, dampening=True), average_sqr_grad,
                           lambda p, **k: {"step": count[0]}, adam_step], **HP)
    step = o.step

    def counted(closure=None):
        count[0] += 1
        return step(closure)

    o.step = counted
    return o


def run(make) -> list[float]:
    head, body = torch.nn.Parameter(torch.tensor(1.0)), torch.nn.Parameter(torch.tensor(1.0))
    opt = make([[head], [body]])
    out = []
    for i in range(before + after):
        g = 0.01 * (1 + 0.5 * math.sin(i))  # the sequence recipe-adam-check.mjs uses
        head.grad = torch.tensor(g)
        body.grad = torch.tensor(g) if i >= before else None  # frozen: no gradient, no update
        opt.step()
        if i >= before:
            out.append(float(body.detach()))
    return out


fastai = run(lambda ps: Adam(ps, **HP))
emulated = run(global_step_adam)
repo = Path(__file__).resolve().parents[2]
def gzx_run(backend: str) -> list[float]:
    out = subprocess.run(["node", str(repo / "bench/parity/recipe-adam-check.mjs"), str(before), str(after), backend],
                         capture_output=True, text=True, cwd=repo)
    if out.returncode != 0:
        sys.exit(f"recipe-adam-check.mjs ({backend}) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])["body"]


gzx = gzx_run("tensorflow")  # the native update engine, as in a run
gzx_cpu = gzx_run("cpu")  # tfjs ops
print(f"a weight first trained after {before} optimiser steps of others: its change per update (rate 1e-3)")
print("update   fastai Δ     gzx Δ   gzx/fastai   fastai+global step Δ")
prev = [1.0, 1.0, 1.0]
for k, cur in enumerate(zip(fastai, gzx, emulated)):
    d = [p - c for p, c in zip(prev, cur)]
    print(f"{k + 1:6d}  {d[0]:9.3e} {d[1]:9.3e}   {d[1] / d[0]:6.3f}      {d[2]:9.3e}")
    prev = list(cur)
print(f"largest |gzx (tensorflow) − fastai|: {max(abs(a - b) for a, b in zip(gzx, fastai)):.2e}; "
      f"|gzx (tensorflow) − fastai with a global step|: {max(abs(a - b) for a, b in zip(gzx, emulated)):.2e}; "
      f"|gzx (tensorflow) − gzx (cpu)|: {max(abs(a - b) for a, b in zip(gzx, gzx_cpu)):.2e}")
