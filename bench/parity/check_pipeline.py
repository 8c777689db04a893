"""Compares the twin's image pipeline with gzx's on real images: decoding (centre crop + resize)
and the flip/rotate resampling given the same matrices. Prints mean and max absolute differences
in grey levels (0…255). `python bench/parity/check_pipeline.py [--data DIR] [--count 20]`."""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import galaxy_torch as gt  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def warp(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """augment_batch's resampling with a given matrix for every image."""
    n, _, h, w = images.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    a, b, c, d = (float(v) for v in m.flatten())
    sx = a * (xs - cx) + b * (ys - cy) + cx
    sy = c * (xs - cx) + d * (ys - cy) + cy
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1).float().expand(n, h, w, 2)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False).round()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(REPO, "..", "shared", "galaxy-zoo", "real-1000"))
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    img_dir = os.path.join(args.data, "images_training_rev1")
    files = sorted(os.listdir(img_dir))[: args.count]
    paths = [os.path.join(img_dir, f) for f in files]
    mats = []
    for deg, flip in [(0, -1), (90, 1), (30, 1), (137.5, -1), (251, 1)]:
        r = math.radians(deg)
        rot = np.array([[math.cos(r), math.sin(r)], [-math.sin(r), math.cos(r)]])
        mats.append((np.diag([flip, 1.0]) @ rot).flatten().tolist())
    proc = subprocess.run(["node", os.path.join(REPO, "bench", "parity", "pixels-reference.mjs"), str(args.crop), str(args.size),
                           json.dumps(mats), *paths], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"check_pipeline: pixels-reference.mjs failed: {proc.stderr.strip()}")
    ref = json.loads(proc.stdout)
    s = args.size
    to_t = lambda flat: torch.tensor(flat, dtype=torch.float64).view(s, s, 3).permute(2, 0, 1)  # noqa: E731
    gzx_dec = torch.stack([to_t(im["decoded"]) for im in ref["images"]])
    twin_dec = gt.load_images(paths, args.crop, s).double()
    dd = (gzx_dec - twin_dec).abs()
    print(f"decode ({len(paths)} images, crop {args.crop} → {s} px): twin PIL box vs gzx: mean |diff| {dd.mean():.3f}, "
          f"max {dd.max():.0f} grey levels; mean signed {(twin_dec - gzx_dec).mean():+.3f}")
    for k, m in enumerate(mats):
        gzx_w = torch.stack([to_t(im["warped"][k]) for im in ref["images"]])
        twin_w = warp(gzx_dec, torch.tensor(m))  # same input pixels: only the resampling differs
        dw = (gzx_w - twin_w).abs()
        print(f"warp {np.round(m, 3).tolist()}: mean |diff| {dw.mean():.4f}, max {dw.max():.0f} grey levels")


if __name__ == "__main__":
    main()
