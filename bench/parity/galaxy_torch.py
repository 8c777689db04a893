"""PyTorch pieces that mirror gzx, for the parity twins (bench/parity/).

Everything here copies a named piece of gzx; the comment on each says which, and where PyTorch
cannot do exactly the same. Shared by the PyTorch twin (torch_twin.py) and the fastai twin.

- COLUMNS / QUESTIONS / normalise(): the decision tree and its normalisation (src/galaxy/tree.ts,
  src/galaxy/layers/galaxy-normalisation.ts), checked against gzx's normaliseAnswers by
  check_normalisation() (bench/parity/normalise-reference.mjs prints gzx's outputs).
- masked_mse() / masked_rmse(): mean squared error over the known label cells only (unknown = NaN).
- GalaxyZooHead: gzx's galaxy-zoo head (src/plugins/head/galaxy-zoo.ts), fastai's create_head order.
- resnet_trunk(): torchvision ResNet 18/34/50 without pool and fc, re-initialised as gzx initialises.
- load_images() / augment_batch(): crop, resize, pixel scaling and flip/rotate as gzx's pipeline.
- one_cycle(): fastai's fit_one_cycle schedule (src/plugins/schedule/one-cycle.ts).
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- the decision tree (tree.ts)

# (question number, number of answers, parent column or None); Q6 has weight 1, as the data has.
_SPEC = [
    (1, 3, None),
    (2, 2, "Class1.2"),
    (3, 2, "Class2.2"),
    (4, 2, "Class2.2"),
    (5, 4, "Class2.2"),
    (6, 2, None),
    (7, 3, "Class1.1"),
    (8, 7, "Class6.1"),
    (9, 3, "Class2.1"),
    (10, 3, "Class4.1"),
    (11, 6, "Class4.1"),
]
COLUMNS = [f"Class{q}.{i + 1}" for q, n, _ in _SPEC for i in range(n)]
NUM_COLUMNS = len(COLUMNS)  # 37
NORMALISE_EPSILON = 1e-12


@dataclass(frozen=True)
class Question:
    number: int
    start: int
    count: int
    parent: int | None  # column index of the parent answer, None for weight 1


def _questions() -> list[Question]:
    out, start = [], 0
    for number, count, parent in _SPEC:
        out.append(Question(number, start, count, None if parent is None else COLUMNS.index(parent)))
        start += count
    return out


QUESTIONS = _questions()


def normalise(x: torch.Tensor) -> torch.Tensor:
    """gzx's normalisation on [batch, 37]: clip at 0, each question to sum 1 (+1e-12), times its
    parent column's already-normalised value, parents first. Differentiable as gzx's layer."""
    clipped = torch.relu(x)
    parts: list[torch.Tensor | None] = [None] * len(QUESTIONS)
    out_cols: dict[int, torch.Tensor] = {}
    for qi, q in enumerate(QUESTIONS):
        block = clipped[:, q.start : q.start + q.count]
        n = block / (block.sum(dim=1, keepdim=True) + NORMALISE_EPSILON)
        if q.parent is not None:
            n = n * out_cols[q.parent]
        parts[qi] = n
        for i in range(q.count):
            out_cols[q.start + i] = n[:, i : i + 1]
    return torch.cat(parts, dim=1)  # type: ignore[arg-type]


class GalaxyNormalisation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalise(x)


def check_normalisation(repo: str, rows: int = 64, seed: int = 0, tol: float = 1e-6) -> float:
    """Runs gzx's normaliseAnswers (built dist/) on fixed random rows via
    bench/parity/normalise-reference.mjs and compares normalise() in float64. Returns the largest
    absolute difference; raises if it exceeds tol."""
    script = os.path.join(repo, "bench", "parity", "normalise-reference.mjs")
    proc = subprocess.run(["node", script, str(rows), str(seed)], capture_output=True, text=True, cwd=repo)
    if proc.returncode != 0:
        raise RuntimeError(f"normalise-reference.mjs failed: {proc.stderr.strip().splitlines()[-1:]}")
    ref = json.loads(proc.stdout)
    if ref["columns"] != COLUMNS:
        raise RuntimeError("gzx's column order differs from galaxy_torch.COLUMNS")
    x = torch.tensor(ref["inputs"], dtype=torch.float64)
    want = torch.tensor(ref["outputs"], dtype=torch.float64)
    got = normalise(x)
    diff = float((got - want).abs().max())
    if not diff <= tol:
        raise RuntimeError(f"normalise() differs from gzx's normaliseAnswers by {diff:.3g} (> {tol:g})")
    return diff


# ---------------------------------------------------------------- loss and metric

def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the known cells only; unknown label cells are NaN in `target`."""
    known = ~torch.isnan(target)
    diff = torch.where(known, pred - torch.nan_to_num(target), torch.zeros_like(pred))
    return (diff * diff).sum() / known.sum().clamp(min=1)


def masked_rmse(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> float:
    """RMSE pooled over every known cell (the Kaggle metric restricted to known cells)."""
    p = torch.as_tensor(pred, dtype=torch.float64)
    t = torch.as_tensor(target, dtype=torch.float64)
    return math.sqrt(float(masked_mse(p, t)))


def column_mean_baseline(train_y: np.ndarray, valid_y: np.ndarray) -> float:
    """RMSE of predicting each column's mean over the training set's known cells, on known cells."""
    means = np.nanmean(np.where(np.isnan(train_y).all(axis=0, keepdims=True), 0.0, train_y), axis=0)
    means = np.nan_to_num(means)
    return masked_rmse(np.broadcast_to(means, valid_y.shape).copy(), valid_y)


# ---------------------------------------------------------------- initialisation as gzx (tfjs)

def tf_variance_scaling_(w: torch.Tensor, scale: float, fan_in: int) -> torch.Tensor:
    """tfjs' VarianceScaling(mode fanIn, distribution 'normal'): a normal truncated at 2 std, with
    std sqrt(scale / fan_in) (tfjs does not widen it by 1/0.8796 as Keras 2.x does)."""
    std = math.sqrt(scale / fan_in)
    with torch.no_grad():
        return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


def tf_he_normal_(w: torch.Tensor) -> torch.Tensor:
    """tfjs' heNormal on a torch weight (conv [out, in, kh, kw] or linear [out, in])."""
    fan_in = w.shape[1] * (w.shape[2] * w.shape[3] if w.dim() == 4 else 1)
    return tf_variance_scaling_(w, 2.0, fan_in)


def init_like_gzx(module: nn.Module) -> None:
    """Convolutions: heNormal (fan in, truncated), no bias; BatchNorm: gamma 1, beta 0 — as gzx's resnet."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            tf_he_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def biased_moving_variance(module: nn.Module):
    """Makes every BatchNorm's moving variance average the biased batch variance, as gzx's does
    (tfjs-layers' choice, kept by gzx's native kernel); PyTorch averages the unbiased one, which is
    n/(n−1) larger (n = values per channel in the batch: 32 for the head's BatchNorm1d at batch 32).
    Hooks note each training forward's old variance and n; call the returned function after
    backward (autograd may still need the buffers during it) to rescale PyTorch's update.
    Training outputs and gradients are unchanged."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]

    def before(mod, inputs):
        if mod.training:
            mod._gzx_old_var = mod.running_var.detach().clone()
            x = inputs[0]
            mod._gzx_n = x.numel() // x.shape[1]

    for m in layers:
        m.register_forward_pre_hook(before)

    def settle() -> None:
        with torch.no_grad():
            for mod in layers:
                old, n = getattr(mod, "_gzx_old_var", None), getattr(mod, "_gzx_n", 0)
                if old is not None and n > 1:
                    keep = 1 - mod.momentum
                    # torch: new = keep·old + m·u; gzx: keep·old + m·u·(n−1)/n
                    mod.running_var.copy_(keep * old + (mod.running_var - keep * old) * ((n - 1) / n))
                mod._gzx_old_var = None

    return settle


# ---------------------------------------------------------------- model

class AdaptiveConcatPool2d(nn.Module):
    """fastai's: global max then global average, side by side (gzx's ConcatPool order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.amax(x, dim=(2, 3)), torch.mean(x, dim=(2, 3))], dim=1)


class GalaxyZooHead(nn.Sequential):
    """gzx's galaxy-zoo head: concat pool → BN → dropout ps/2 → dense(hidden, heNormal) → ReLU →
    BN → dropout ps → dense(37) → tree normalisation. BN momentum 0.1 (Keras 0.9), eps 1e-5.
    With normalise, the last dense starts small (varianceScaling 0.1) with bias 1, as gzx's."""

    def __init__(self, features: int, ps: float = 0.25, hidden: int = 512, pool: str = "concat", normalise: bool = True):
        pooled = 2 * features if pool == "concat" else features
        dense1 = nn.Linear(pooled, hidden)
        tf_he_normal_(dense1.weight)
        nn.init.zeros_(dense1.bias)
        dense2 = nn.Linear(hidden, NUM_COLUMNS)
        if normalise:
            tf_variance_scaling_(dense2.weight, 0.1, hidden)
            nn.init.ones_(dense2.bias)
        else:
            tf_he_normal_(dense2.weight)
            nn.init.zeros_(dense2.bias)
        layers: list[nn.Module] = [
            AdaptiveConcatPool2d() if pool == "concat" else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
            nn.BatchNorm1d(pooled, eps=1e-5, momentum=0.1),
            nn.Dropout(ps / 2),
            dense1,
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(hidden, eps=1e-5, momentum=0.1),
            nn.Dropout(ps),
            dense2,
        ]
        if normalise:
            layers.append(GalaxyNormalisation())
        super().__init__(*layers)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputNormalization(nn.Module):
    """gzx's input_norm layer, mode 'imagenet' (resnet 18/34) or 'none'; input is pixels / 255."""

    def __init__(self, mode: str = "imagenet"):
        super().__init__()
        if mode not in ("imagenet", "none"):
            raise ValueError(f"input normalisation {mode!r} is not ported to the twin")
        self.mode = mode
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.mode == "imagenet" else x


def resnet_trunk(depth: int, init: str = "gzx") -> tuple[nn.Module, int]:
    """torchvision's ResNet (from scratch) up to layer4. init 'gzx' re-initialises as gzx does
    (truncated heNormal fan-in convs); 'torchvision' keeps torchvision's kaiming fan-out normal.
    BN: torchvision's eps 1e-5 and momentum 0.1 = gzx's 1e-5 / 0.9 for depths 18 and 34."""
    import torchvision

    net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    if init == "gzx":
        init_like_gzx(trunk)
    elif init != "torchvision":
        raise ValueError(f"unknown init {init!r}")
    return trunk, net.fc.in_features


def build_model(cfg: dict, init: str = "gzx") -> nn.Module:
    """The model a resolved gzx config describes (backbone resnet, head galaxy-zoo)."""
    bb, head = cfg["backbone"], cfg["head"]
    if bb["use"] != "resnet" or head["use"] != "galaxy-zoo":
        raise ValueError(f"the twin ports backbone resnet + head galaxy-zoo, got {bb['use']} + {head['use']}")
    o = bb["with"]
    if o.get("pretrained"):
        raise ValueError("the twin trains from scratch; backbone.with.pretrained must be null")
    if o.get("width", 1) != 1:
        raise ValueError("the twin builds width 1 only")
    depth = int(o["depth"])
    norm = o.get("normalize", "auto")
    if norm == "auto":
        norm = "imagenet-caffe" if depth == 50 else "imagenet"
    trunk, features = resnet_trunk(depth, init)
    h = head["with"]
    return nn.Sequential(
        InputNormalization(norm),
        trunk,
        GalaxyZooHead(features, ps=h["ps"], hidden=h["hidden"], pool=h["pool"], normalise=h["normalise"]),
    )


# ---------------------------------------------------------------- data

def read_labels(csv_path: str) -> tuple[list[str], np.ndarray]:
    """GalaxyIDs and a [n, 37] float64 array; empty cells are NaN (unknown)."""
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header[1:] != COLUMNS:
            raise ValueError(f"{csv_path}: header is not GalaxyID + the 37 Kaggle columns")
        ids, rows = [], []
        for line in reader:
            ids.append(line[0])
            rows.append([float(v) if v.strip() != "" else math.nan for v in line[1:]])
    return ids, np.asarray(rows, dtype=np.float64)


def load_image(path: str, crop: int | None, size: int) -> np.ndarray:
    """Centre crop (floor offset, as gzx), then area-average to size × size: uint8 [size, size, 3].
    gzx decodes JPEGs at a DCT scale (3/8 for 224 → 64) and area-averages from there; PIL decodes
    at full size and box-filters, the same operation up to the DCT scaling's rounding."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if crop:
            left, top = (im.width - crop) // 2, (im.height - crop) // 2
            im = im.crop((left, top, left + crop, top + crop))
        im = im.resize((size, size), Image.BOX)
        return np.asarray(im, dtype=np.uint8).copy()


def load_images(paths: list[str], crop: int | None, size: int, threads: int = 2) -> torch.Tensor:
    """uint8 [n, 3, size, size]; decoded once and kept in memory (gzx's cache_images)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        arrays = list(pool.map(lambda p: load_image(p, crop, size), paths))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _matmul2(m1: torch.Tensor, m2: torch.Tensor) -> torch.Tensor:
    return torch.einsum("nij,njk->nik", m1, m2)


def draw_affine(augment: list[dict], n: int, gen: torch.Generator) -> torch.Tensor:
    """Per-image 2×2 matrices (output offset → source offset) for gzx's flip / rotate / affine
    plugins, composed in list order as gzx's pipeline composes consecutive affine augmentations."""
    m = torch.eye(2, dtype=torch.float64).repeat(n, 1, 1)
    for ref in augment:
        o, use = ref.get("with", {}), ref["use"]
        u = lambda: torch.rand(n, generator=gen, dtype=torch.float64)  # noqa: E731
        if use == "flip":
            h = torch.where(u() < o["horizontal"], -1.0, 1.0)
            v = torch.where(u() < o["vertical"], -1.0, 1.0)
            d = torch.zeros(n, 2, 2, dtype=torch.float64)
            d[:, 0, 0], d[:, 1, 1] = h, v
        elif use == "rotate":
            if o.get("padding", "reflection") != "reflection":
                raise ValueError("the twin ports rotate with reflection padding only")
            rad = torch.deg2rad(o["min_degrees"] + (o["max_degrees"] - o["min_degrees"]) * u())
            c, s = torch.cos(rad), torch.sin(rad)
            d = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], 1)
        else:
            raise ValueError(f"augmentation {use!r} is not ported to the twin (flip, rotate are)")
        m = _matmul2(m, d)
    return m


def augment_batch(images: torch.Tensor, augment: list[dict], gen: torch.Generator, round_pixels: bool = True) -> torch.Tensor:
    """uint8 [n, 3, h, w] → float [n, 3, h, w] in 0…255 after the augmentations: output pixel
    (x, y) = bilinear source at centre + M·((x, y) − centre), centre (w−1)/2, symmetric reflection
    outside (gzx's warpAffine). grid_sample with align_corners=False reflects about the outer pixel
    edges and clamps, which is gzx's reflectIndex; gzx's 8-bit fixed-point weights and rounding to
    uint8 are approximated by rounding the float result (round_pixels)."""
    x = images.float()
    if not augment:
        return x
    n, _, h, w = x.shape
    m = draw_affine(augment, n, gen)
    if torch.all(m == torch.eye(2, dtype=torch.float64)):
        return x
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    dx, dy = xs - cx, ys - cy
    a, b, c, d = m[:, 0, 0, None, None], m[:, 0, 1, None, None], m[:, 1, 0, None, None], m[:, 1, 1, None, None]
    sx = a * dx + b * dy + cx
    sy = c * dx + d * dy + cy
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1).float()
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.round().clamp(0, 255) if round_pixels else out


# ---------------------------------------------------------------- schedule

def _cos(start: float, end: float, pos: float) -> float:
    return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def combined_cos(split: float, start: float, middle: float, end: float, pos: float) -> float:
    if split <= 0:
        return _cos(middle, end, pos)
    if pos < split:
        return _cos(start, middle, pos / split)
    return _cos(middle, end, (pos - split) / (1 - split))


def one_cycle(pct: float, max_lr: float, pct_start: float = 0.25, div: float = 25.0, div_final: float = 1e5,
              moms: tuple[float, float, float] = (0.95, 0.85, 0.95)) -> tuple[float, float]:
    """(lr, momentum) at pct = step / total steps, as fastai's fit_one_cycle and gzx's one-cycle."""
    lr = combined_cos(pct_start, max_lr / div, max_lr, max_lr / div_final, pct)
    mom = combined_cos(pct_start, moms[0], moms[1], moms[2], pct)
    return lr, mom


def resolved_config(repo: str, config: str, sets: list[str]) -> dict:
    """`node bin/run.js config <config> --set … --json`: the config exactly as gzx runs it."""
    args = ["node", os.path.join(repo, "bin", "run.js"), "config", config, "--json"]
    for s in sets:
        args += ["--set", s]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=repo)
    if proc.returncode != 0:
        raise RuntimeError(f"gzx config failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)
