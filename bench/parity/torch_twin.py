"""The PyTorch twin of a gzx run: trains the experiment a resolved gzx config describes (resnet
backbone, galaxy-zoo head, flip/rotate, AdamW + one-cycle, masked MSE) on the same images and
validation ids, and prints one JSON line of results.

  python bench/parity/torch_twin.py --config-json resolved.json --data DIR --valid-ids ids.txt \
      --seed 1 [--threads 2] [--init gzx|torchvision] [--out result.json]

The resolved config comes from `node bin/run.js config <cfg> --json` (run_parity.mjs writes it),
so the twin reads gzx's own values. Its seed changes initialisation, dropout, shuffling and
augmentation; the split comes only from --valid-ids.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import galaxy_torch as gt  # noqa: E402


def fail(message: str) -> None:
    sys.stderr.write(f"torch_twin: {message}\n")
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config-json", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--valid-ids", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", choices=["gzx", "torchvision"], default="gzx")
    ap.add_argument("--bn-variance", choices=["biased", "unbiased"], default="biased",
                    help="moving variance of BatchNorm: biased as gzx (default) or PyTorch's unbiased")
    ap.add_argument("--epochs", type=int, default=None, help="override (quick checks only)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    started = time.perf_counter()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    cfg = json.load(open(args.config_json))
    data = cfg["data"]
    if data["use"] != "kaggle-galaxy-zoo":
        fail(f"data.use must be kaggle-galaxy-zoo, got {data['use']}")
    dw = data["with"]
    csv_path = os.path.join(args.data, dw["csv"])
    img_dir = os.path.join(args.data, dw["images"])
    if not os.path.isfile(csv_path) or not os.path.isdir(img_dir):
        fail(f"data directory {args.data} lacks {dw['csv']} or {dw['images']}/")
    train_cfg = cfg["train"]
    phases = train_cfg["phases"]
    if len(phases) != 1:
        fail("the twin runs one phase")
    ph = phases[0]
    if ph.get("freeze", "none") != "none" or isinstance(ph["lr"], list):
        fail("the twin ports an unfrozen phase with one learning rate")
    opt_cfg = train_cfg["optimizer"]
    if opt_cfg["name"] != "adamw":
        fail("the twin ports optimizer adamw")
    sched = ph["schedule"]
    if sched["use"] != "one-cycle":
        fail("the twin ports schedule one-cycle")
    if train_cfg.get("accumulate", 1) != 1 or train_cfg.get("loss", "mse") != "mse":
        fail("the twin ports accumulate 1 and loss mse")
    epochs = args.epochs or ph["epochs"]
    size, batch_size, max_lr = ph["size"], ph["batch_size"], ph["lr"]
    valid_bs = train_cfg["valid_batch_size"]

    ids, labels = gt.read_labels(csv_path)
    index = {g: i for i, g in enumerate(ids)}
    valid_ids = [l.strip() for l in open(args.valid_ids) if l.strip()]
    missing = [g for g in valid_ids if g not in index]
    if missing:
        fail(f"{len(missing)} validation ids are not in {dw['csv']}, e.g. {missing[0]}")
    vset = set(valid_ids)
    train_rows = [i for i, g in enumerate(ids) if g not in vset]
    valid_rows = [index[g] for g in valid_ids]
    limit = dw.get("limit", 0)
    if limit:
        fail("data.with.limit is not ported")

    t0 = time.perf_counter()
    paths = [os.path.join(img_dir, f"{g}.jpg") for g in ids]
    images = gt.load_images(paths, dw.get("crop"), size, threads=args.threads)
    decode_s = time.perf_counter() - t0
    x_train, y_train = images[train_rows], torch.from_numpy(labels[train_rows]).float()
    x_valid, y_valid = images[valid_rows], torch.from_numpy(labels[valid_rows]).float()

    torch.manual_seed(args.seed)
    model = gt.build_model(cfg, init=args.init)
    settle_bn = gt.biased_moving_variance(model) if args.bn_variance == "biased" else (lambda: None)
    if ph.get("dropout") is not None and ph["dropout"] != cfg["head"]["with"]["ps"]:
        fail("a phase dropout change is not ported")
    so = sched["with"]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=max_lr, betas=(so["moms"][0], opt_cfg["beta2"]), eps=opt_cfg["eps"],
        weight_decay=opt_cfg["wd"],
    )
    gen = torch.Generator().manual_seed(args.seed)
    n = len(train_rows)
    per_epoch = math.ceil(n / batch_size)
    total = per_epoch * epochs
    step = 0
    epochs_out = []
    train_time = 0.0
    for epoch in range(epochs):
        model.train()
        e0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for b in range(per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size]
            lr, mom = gt.one_cycle(step / total, max_lr, so["pct_start"], so["div"], so["div_final"], tuple(so["moms"]))
            for g in optimizer.param_groups:
                g["lr"] = lr
                g["betas"] = (mom, opt_cfg["beta2"])
            x = gt.augment_batch(x_train[idx], cfg["augment"], gen) / 255.0
            pred = model(x)
            loss = gt.masked_mse(pred, y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            settle_bn()
            optimizer.step()
            value = loss.item()
            loss_sum += value * len(idx)
            step += 1
            if not math.isfinite(value):
                fail(f"loss is {value} at epoch {epoch + 1} step {b + 1}")
        seconds = time.perf_counter() - e0
        train_time += seconds
        model.eval()
        preds = []
        with torch.no_grad():
            for v in range(0, len(valid_rows), valid_bs):
                preds.append(model(x_valid[v : v + valid_bs].float() / 255.0))
        valid_rmse = gt.masked_rmse(torch.cat(preds), y_valid)
        epochs_out.append({
            "epoch": epoch + 1, "train_loss_epoch": loss_sum / n, "valid_rmse": valid_rmse,
            "images_per_sec": n / seconds, "train_seconds": seconds,
        })
        sys.stderr.write(f"torch twin seed {args.seed} epoch {epoch + 1}/{epochs}: loss {loss_sum / n:.5f} "
                         f"valid_rmse {valid_rmse:.5f} {n / seconds:.1f} img/s\n")

    result = {
        "engine": "torch",
        "seed": args.seed,
        "valid_rmse": epochs_out[-1]["valid_rmse"],
        "baseline_rmse": gt.column_mean_baseline(labels[train_rows], labels[valid_rows]),
        "train_images_per_sec": n * epochs / train_time,
        "train_seconds": train_time,
        "decode_seconds": decode_s,
        "wall_seconds": time.perf_counter() - started,
        "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
        "init": args.init,
        "bn_variance": args.bn_variance,
        "train": len(train_rows),
        "valid": len(valid_rows),
        "epochs": epochs_out,
        "torch": torch.__version__,
    }
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
