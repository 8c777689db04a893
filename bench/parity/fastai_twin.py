#!/usr/bin/env python
"""A gzx phase recipe run by fastai 2.x itself: the fastai twin of `gzx run <config>`.

It reads the *resolved* gzx config (`node bin/run.js config <yaml> --json`), so data, augmentation,
backbone depth, head, optimiser, schedule and every phase come from the same file gzx trains from,
and runs it the way a fastai user writes the recipe:

    learn.freeze(); learn.fit_one_cycle(n, lr)          # head (and BatchNorm) only
    learn.unfreeze(); learn.fit_one_cycle(n, slice(lo, hi))
    learn.dls = dataloaders(larger size)                # progressive resizing
    dropout modules of the head set in place            # `dropout:` of a phase

What matches gzx and what cannot is listed in bench/parity/RECIPE.md. Usage:

    $GZX_PARITY_VENV/bin/python bench/parity/fastai_twin.py bench/parity/recipe-resnet18.yaml \
        --out bench/parity/results/fastai.json
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def resolved_config(config: Path, sets: list[str]) -> dict:
    """The config exactly as gzx resolves it (defaults filled, phases completed)."""
    cmd = ["node", str(REPO / "bin" / "run.js"), "config", str(config), "--json"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"gzx config failed ({out.returncode}):\n{out.stderr or out.stdout}")
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path, help="gzx experiment YAML")
    ap.add_argument("--set", action="append", default=[], help="gzx --set key.path=value (repeatable)")
    ap.add_argument("--out", type=Path, default=None, help="per-epoch results as JSON")
    ap.add_argument("--valid", type=Path, default=None,
                    help="GalaxyIDs of the validation set, one per line (default: the config's data.with.valid)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("GZX_PARITY_THREADS", "2")))
    ap.add_argument("--like-gzx", action="store_true",
                    help="use gzx's choices where they differ from fastai's defaults: 4 layer groups "
                         "(stem+conv2+conv3, conv4, conv5, head), weight decay on BatchNorm and biases, "
                         "optimiser state kept across freeze()/unfreeze(), gzx's trunk initialisation and "
                         "BatchNorm running variance, and Adam debiased with one global step count")
    ap.add_argument("--adam-step", choices=["per-param", "global"], default=None,
                    help="Adam's debiasing step count: fastai's per weight (default), or gzx's one count of "
                         "optimiser steps since the start (default with --like-gzx)")
    args = ap.parse_args()

    cfg = resolved_config(args.config, args.set)
    config_dir = args.config.resolve().parent

    import numpy as np
    import pandas as pd
    import torch
    import torch.nn as nn
    from PIL import Image
    from fastai.vision.all import (
        Adam, AffineCoordTfm, Callback, CancelFitException, DataBlock, Flip, FuncSplitter, ImageBlock, L,
        Learner, Metric, Normalize, PILImage, RegressionBlock, Rotate, Transform, Zoom, apply_init,
        create_body, create_head, imagenet_stats, num_features_model, params, set_seed, setup_aug_tfms,
    )
    from fastai.optimizer import Optimizer, adam_step as adam_step_fn, average_grad, average_sqr_grad, l2_reg, weight_decay
    from torchvision import models

    sys.path.insert(0, str(HERE))
    # The PyTorch twin's pieces, checked against gzx (bench/parity/README.md).
    from galaxy_torch import GalaxyNormalisation, biased_moving_variance, init_like_gzx, tf_he_normal_

    torch.set_num_threads(args.threads)
    set_seed(cfg["seed"], reproducible=True)

    # ---------------- data ----------------
    data = cfg["data"]
    if data["use"] != "kaggle-galaxy-zoo":
        sys.exit(f"fastai twin: data.use {data['use']!r} not supported (kaggle-galaxy-zoo only)")
    dw = data["with"]
    ddir = (config_dir / dw["dir"]).resolve()
    df = pd.read_csv(ddir / dw["csv"], dtype={"GalaxyID": str}, keep_default_na=True)
    columns = [c for c in df.columns if c != "GalaxyID"]
    assert len(columns) == 37, f"expected 37 answer columns, got {len(columns)}"
    # Empty cells are unknown answers: NaN here, masked out of loss and metric.
    targets = {gid: row.astype(np.float32) for gid, row in zip(df.GalaxyID, df[columns].to_numpy(np.float32))}
    valid_file = args.valid or (config_dir / dw["valid"] if dw.get("valid") else None)
    if valid_file is None:
        sys.exit("fastai twin: no validation ids (set data.with.valid in the config or pass --valid)")
    if Path(valid_file).suffix != ".txt":
        sys.exit("fastai twin: data.with.valid must be a .txt list of GalaxyIDs here")
    valid_ids = {line.strip() for line in Path(valid_file).read_text().splitlines() if line.strip()}
    missing = valid_ids - set(df.GalaxyID)
    if missing:
        sys.exit(f"fastai twin: {len(missing)} validation ids are not in the CSV, e.g. {sorted(missing)[:3]}")
    if dw.get("limit"):  # as gzx: the first N training rows; the validation set stays whole
        is_valid = df.GalaxyID.isin(valid_ids)
        df = df[is_valid | (is_valid.eq(False).cumsum() <= dw["limit"])]
    image_dir = ddir / dw["images"]
    crop = dw.get("crop") or None

    class CentreCropSquish(Transform):
        """gzx's decode: centre crop `crop` source pixels, then an area (box) resize to size × size."""
        order = 1  # where fastai's Resize sits: on the PIL image, before ToTensor

        def __init__(self, crop, size):
            self.crop, self.size = crop, size

        def encodes(self, img: PILImage):
            w, h = img.size
            if self.crop:
                c = min(self.crop, w, h)
                left, top = (w - c) / 2, (h - c) / 2
                img = img.crop((int(left), int(top), int(left) + c, int(top) + c))
            return img.resize((self.size, self.size), Image.BOX)

    def batch_augmentations() -> list:
        """gzx `augment:` plugins as fastai batch transforms, merged into one resampling (setup_aug_tfms)."""
        tfms = []
        for a in cfg["augment"]:
            o = a["with"]
            if a["use"] == "affine":
                if o["flip_vertical"]:
                    sys.exit("fastai twin: affine.flip_vertical > 0 has no fastai twin here")
                lo, hi = o["min_degrees"], o["max_degrees"]
                tfms.append(Flip(p=o["flip_horizontal"], pad_mode=o["padding"]))
                # gzx rotates every image by U(lo, hi) degrees; fastai's Rotate draws U(-max, max) with
                # probability p, so draw the angle ourselves and apply it always.
                tfms.append(Rotate(p=1.0, draw=lambda x, lo=lo, hi=hi: x.new_empty(x.size(0)).uniform_(lo, hi),
                                   pad_mode=o["padding"]))
                # gzx zooms about the centre; fastai's Zoom draws a random centre unless told 0.5, 0.5.
                tfms.append(Zoom(min_zoom=1.0, max_zoom=o["max_zoom"], p=o["p_zoom"], draw_x=0.5, draw_y=0.5,
                                 pad_mode=o["padding"]))
            else:
                sys.exit(f"fastai twin: augment {a['use']!r} not mapped to fastai yet")
        return setup_aug_tfms(tfms)

    backbone = cfg["backbone"]["with"]
    norm = backbone["normalize"]
    if norm == "auto":
        norm = "imagenet" if backbone["depth"] in (18, 34) else "imagenet-caffe"
    if norm not in ("imagenet", "none"):
        sys.exit(f"fastai twin: input normalisation {norm!r} not supported")

    def dataloaders(size: int, bs: int):
        block = DataBlock(
            blocks=(ImageBlock, RegressionBlock(n_out=37)),
            get_x=lambda gid: image_dir / f"{gid}.jpg",
            get_y=lambda gid: targets[gid],
            splitter=FuncSplitter(lambda gid: gid in valid_ids),
            item_tfms=CentreCropSquish(crop, size),
            # fastai adds ImageNet stats only for pretrained models; gzx's resnet18 normalises always.
            batch_tfms=[*batch_augmentations(), *([Normalize.from_stats(*imagenet_stats)] if norm == "imagenet" else [])],
        )
        return block.dataloaders(list(df.GalaxyID), bs=bs, val_bs=cfg["train"]["valid_batch_size"], num_workers=0)

    # ---------------- model ----------------
    if cfg["backbone"]["use"] != "resnet" or backbone["depth"] not in (18, 34) or backbone["pretrained"]:
        sys.exit("fastai twin: backbone must be resnet 18/34 from scratch")
    if backbone["width"] != 1:
        sys.exit("fastai twin: resnet width must be 1")
    arch = {18: models.resnet18, 34: models.resnet34}[backbone["depth"]]
    body = create_body(arch(weights=None), pretrained=False, cut=-2)  # torchvision init, untrained
    if args.like_gzx:
        init_like_gzx(body)  # tfjs heNormal (fan in, truncated) instead of torchvision's kaiming fan-out

    h = cfg["head"]["with"]
    if cfg["head"]["use"] != "galaxy-zoo":
        sys.exit("fastai twin: head must be galaxy-zoo")
    nf = num_features_model(body)
    head = create_head(nf, 37, lin_ftrs=[h["hidden"]], ps=h["ps"], concat_pool=h["pool"] == "concat")
    apply_init(head, nn.init.kaiming_normal_)  # what fastai's create_vision_model does to a new head
    # create_head: [pool, Flatten, BN, Dropout(ps/2), Linear(bias=False), ReLU, BN, Dropout(ps), Linear(bias=False)].
    # gzx's dense layers have biases; its last one starts with small weights and bias 1 so the
    # normalisation's ReLU has no dead question at the start. Give the twin the same two layers.
    linears = [i for i, m in enumerate(head) if isinstance(m, nn.Linear)]
    assert len(linears) == 2
    first = nn.Linear(head[linears[0]].in_features, head[linears[0]].out_features, bias=True)
    (tf_he_normal_ if args.like_gzx else nn.init.kaiming_normal_)(first.weight)  # truncated or not
    nn.init.zeros_(first.bias)
    head[linears[0]] = first
    last = nn.Linear(head[linears[1]].in_features, 37, bias=True)
    if h["normalise"]:
        std = math.sqrt(0.1 / last.in_features)  # tfjs varianceScaling(0.1, fanIn, normal): truncated at 2σ
        nn.init.trunc_normal_(last.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.ones_(last.bias)
        head[linears[1]] = last
        head.append(GalaxyNormalisation())
    else:
        nn.init.kaiming_normal_(last.weight)
        nn.init.zeros_(last.bias)
        head[linears[1]] = last
    model = nn.Sequential(body, head)
    if args.like_gzx:
        biased_moving_variance(model)  # BatchNorm running variance from the biased batch variance, as tfjs
    dropouts = [m for m in head if isinstance(m, nn.Dropout)]

    def fastai_split(m):  # fastai's _resnet_split: stem+layer1+layer2 | layer3+layer4 | head
        return L(m[0][:6], m[0][6:], m[1:]).map(params)

    def gzx_split(m):  # gzx resnet.ts layerGroups until fastai's split was adopted: stem+conv2+conv3 | conv4 | conv5 | head
        return L(m[0][:6], m[0][6], m[0][7], m[1:]).map(params)

    # ---------------- loss, metric, optimiser ----------------
    tr = cfg["train"]
    if tr.get("loss", "mse") != "mse":  # gzx ≥ 5d74580: the galaxy-zoo head's loss, masked MSE
        sys.exit("fastai twin: loss must be mse")

    def masked_mse(pred, targ):
        """MSE over known cells (NaN = unknown); NaN zeroed before the mask so no NaN gradient leaks."""
        known = ~torch.isnan(targ)
        err = (pred - torch.nan_to_num(targ)) ** 2
        return (err * known).sum() / known.sum().clamp(min=1)

    class MaskedRMSE(Metric):
        """Validation RMSE over every known cell of the whole validation set (not a mean of batch RMSEs)."""

        def reset(self):
            self.sse, self.n = 0.0, 0

        def accumulate(self, learn):
            p, y = learn.pred.float(), learn.y.float()
            known = ~torch.isnan(y)
            d = (p - torch.nan_to_num(y))[known]
            self.sse += float((d * d).sum())
            self.n += int(known.sum())

        @property
        def value(self):
            return math.sqrt(self.sse / self.n) if self.n else None

        @property
        def name(self):
            return "valid_rmse"

    opt = tr["optimizer"]
    if opt["name"] not in ("adam", "adamw"):
        sys.exit("fastai twin: optimizer must be adam or adamw")
    adam_step = args.adam_step or ("global" if args.like_gzx else "per-param")

    def adam_global_step(params, lr, mom=0.9, sqr_mom=0.99, eps=1e-5, wd=0.01, decouple_wd=True):
        """fastai's Adam with gzx's debiasing: step = optimiser steps since the start of training, one
        count for every weight (src/framework/optimizers.ts), instead of fastai's step_stat per weight, which
        starts at 1 when a weight first gets a gradient (after unfreezing) and again after clear_state."""
        count = [0]

        def global_step_stat(p, **kwargs):
            return {"step": count[0]}

        cbs = [weight_decay] if decouple_wd else [l2_reg]
        cbs += [partial(average_grad, dampening=True), average_sqr_grad, global_step_stat, adam_step_fn]
        o = Optimizer(params, cbs, lr=lr, mom=mom, sqr_mom=sqr_mom, eps=eps, wd=wd)
        step = o.step

        def counted_step(closure=None):
            count[0] += 1
            return step(closure)

        o.step = counted_step
        return o

    opt_func = partial(Adam if adam_step == "per-param" else adam_global_step, mom=opt["beta1"], sqr_mom=opt["beta2"],
                       eps=opt["eps"], decouple_wd=opt["name"] == "adamw")
    if tr["accumulate"] != 1 or tr["max_steps_per_epoch"]:
        sys.exit("fastai twin: accumulate and max_steps_per_epoch are not mapped")

    phases = tr["phases"]
    dls = dataloaders(phases[0]["size"], phases[0]["batch_size"])
    records: list[dict] = []

    class Record(Callback):
        order = 60  # after Recorder has the epoch's values

        def before_fit(self):
            self.t0 = time.time()

        def before_epoch(self):
            self.loss_sum, self.seen = 0.0, 0

        def after_batch(self):  # the epoch's mean batch loss, as gzx's train_loss_epoch (fastai logs a smoothed one)
            if self.training:
                n = self.learn.xb[0].shape[0]
                self.loss_sum += float(self.learn.loss) * n
                self.seen += n

        def after_epoch(self):
            names = list(self.learn.recorder.metric_names[1:-1])  # train_loss, valid_loss, valid_rmse
            vals = dict(zip(names, self.learn.recorder.log[1:-1]))
            records.append({
                "phase": self.phase_index, "phase_name": self.phase_name, "epoch_in_phase": self.epoch,
                "size": self.size, "train_loss_mean": self.loss_sum / max(self.seen, 1), "train_loss_smooth": float(vals["train_loss"]), "valid_loss": float(vals["valid_loss"]),
                "valid_rmse": float(vals["valid_rmse"]), "seconds": time.time() - self.t0,
            })
            self.t0 = time.time()

    record = Record()
    learn = Learner(
        dls, model, loss_func=masked_mse, opt_func=opt_func, wd=opt["wd"], metrics=[MaskedRMSE()],
        splitter=gzx_split if args.like_gzx else fastai_split,
        wd_bn_bias=args.like_gzx,  # fastai: no decay on BatchNorm and biases; gzx decays every weight
        train_bn=True, cbs=[record],
    )
    learn.create_opt()
    n_groups = len(learn.opt.param_lists)

    def set_frozen(frozen: bool):
        if args.like_gzx:  # gzx keeps Adam's moments when it freezes or unfreezes
            learn.opt.freeze_to(-1 if frozen else 0)
        elif frozen:
            learn.freeze()  # freeze_to(-1) and clear_state(): Adam's moments start again
        else:
            learn.unfreeze()

    frozen = None
    peak_rates: list[list[float]] = []
    started = time.time()
    for pi, ph in enumerate(phases):
        if pi > 0 and (ph["size"] != phases[pi - 1]["size"] or ph["batch_size"] != phases[pi - 1]["batch_size"]):
            learn.dls = dataloaders(ph["size"], ph["batch_size"])  # progressive resizing: new DataLoaders
        want = ph["freeze"] == "backbone"
        if want != frozen:
            set_frozen(want)
            frozen = want
        if ph.get("dropout") is not None:
            p = ph["dropout"]
            dropouts[0].p, dropouts[-1].p = p / 2, p  # create_head's ps/2 and ps, changed in place
        lr = ph["lr"]
        lr_arg = slice(lr[0], lr[1]) if isinstance(lr, list) else lr
        record.phase_index, record.phase_name, record.size = pi, ph.get("name") or f"phase {pi + 1}", ph["size"]
        sch = ph["schedule"]
        learn.opt.set_hyper("lr", lr_arg)  # what fit_one_cycle sets as lr_max: fastai's even_mults for a slice
        peak_rates.append([float(hp["lr"]) for hp in learn.opt.hypers])
        print(f"== phase {pi + 1}/{len(phases)} {record.phase_name}: size {ph['size']}, epochs {ph['epochs']}, "
              f"{'frozen' if want else 'unfrozen'}, lr {lr}, {sch['use']}"
              + (f", dropout {ph['dropout']}" if ph.get('dropout') is not None else ""), flush=True)
        if sch["use"] == "one-cycle":
            s = sch["with"]
            learn.fit_one_cycle(ph["epochs"], lr_arg, div=s["div"], div_final=s["div_final"], pct_start=s["pct_start"],
                                moms=tuple(s["moms"]))
        elif sch["use"] == "cosine":
            s = sch["with"]
            learn.fit_flat_cos(ph["epochs"], lr_arg, div_final=s["div_final"], pct_start=s["pct_flat"])
        elif sch["use"] == "constant":
            learn.fit(ph["epochs"], lr_arg)
        else:
            sys.exit(f"fastai twin: schedule {sch['use']!r} not mapped")
        print(f"   peak rates per group ({n_groups} groups): {', '.join(f'{r:.3g}' for r in peak_rates[pi])}", flush=True)

    result = {
        "engine": "fastai", "versions": {"fastai": __import__("fastai").__version__, "torch": torch.__version__,
                                         "torchvision": __import__("torchvision").__version__},
        "config": str(args.config), "like_gzx": args.like_gzx, "adam_step": adam_step, "layer_groups": n_groups,
        "threads": args.threads, "peak_rates": peak_rates, "seconds": time.time() - started, "epochs": records,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
