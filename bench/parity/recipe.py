#!/usr/bin/env python
"""The scaled-down ResNet recipe on both engines: gzx (`node bin/run.js run`) and fastai 2.x
(bench/parity/fastai_twin.py), the same resolved config, the same 200 validation galaxies, one
engine after the other. Writes the per-epoch valid RMSE of both to a JSON file, prints a per-phase
table (Markdown) and plots both curves (matplotlib). See bench/parity/RECIPE.md.

    npx tsc -p tsconfig.json
    $GZX_PARITY_VENV/bin/python bench/parity/recipe.py            # GZX_PARITY_VENV defaults to .venv/parity
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def gzx_config(config: Path, sets: list[str], fail: bool = True) -> dict | None:
    cmd = ["node", "bin/run.js", "config", str(config), "--json"] + [a for s in sets for a in ("--set", s)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        if not fail:
            return None
        sys.exit(f"gzx config failed:\n{out.stderr or out.stdout}")
    return json.loads(out.stdout)


def column_mean_baseline(csv: Path, valid_file: Path) -> float:
    """RMSE over known validation cells of predicting each column's training mean (known cells)."""
    import numpy as np

    valid = set(valid_file.read_text().split())
    rows = [line.split(",") for line in csv.read_text().splitlines()[1:] if line.strip()]
    y = np.array([[float(v) if v.strip() else np.nan for v in r[1:]] for r in rows])
    is_valid = np.array([r[0] in valid for r in rows])
    means = np.nan_to_num(np.nanmean(np.where(np.isnan(y[~is_valid]).all(0), 0.0, y[~is_valid]), axis=0))
    d = y[is_valid] - means
    return float(np.sqrt(np.nanmean(d * d)))


def run_gzx(config: Path, sets: list[str], work: Path, log: Path) -> dict:
    args = ["node", "bin/run.js", "run", str(config), "--set", "backend=tensorflow", "--set", f"output_dir={work / 'gzx'}"]
    args += [a for s in sets for a in ("--set", s)]
    print("$ " + " ".join(args), flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        text = []
        for line in proc.stdout:
            f.write(line)
            text.append(line)
            if re.search(r"phase \d+/\d+ epoch|run finished|error", line, re.I):
                print("  gzx: " + line.rstrip(), flush=True)
        proc.wait()
    m = re.search(r"run finished: (.+)$", "".join(text), re.M)
    if proc.returncode != 0 or not m:
        sys.exit(f"gzx run failed ({proc.returncode}); see {log}")
    run_dir = (REPO / m.group(1).strip()).resolve()
    by_step: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["key"] in ("valid_rmse", "baseline_rmse", "train_loss_epoch", "epoch", "phase", "size", "images_per_sec"):
            by_step.setdefault(r["step"], {})[r["key"]] = r["value"]
    epochs = sorted((e for e in by_step.values() if "epoch" in e), key=lambda e: e["epoch"])
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "engine": "gzx", "run_dir": rel(run_dir), "seconds": time.time() - t0, "backend": summary.get("backend"),
        "baseline_rmse": summary["final"].get("baseline_rmse"),
        "epochs": [{"phase": int(e["phase"]) - 1, "epoch": int(e["epoch"]), "size": e["size"], "train_loss": e.get("train_loss_epoch"),
                    "valid_rmse": e["valid_rmse"]} for e in epochs],
    }


FASTAI_ENGINES = {  # runner name → (label, fastai_twin.py flags)
    "fastai": ("fastai", []),
    "fastai-like-gzx": ("fastai (gzx's choices)", ["--like-gzx"]),
    "fastai-like-gzx-per-param": ("fastai (gzx's choices, per-weight Adam step)", ["--like-gzx", "--adam-step", "per-param"]),
}


def run_fastai(python: str, config: Path, sets: list[str], work: Path, log: Path, engine: str) -> dict:
    label, flags = FASTAI_ENGINES[engine]
    out = work / f"{engine}.json"
    args = [python, str(HERE / "fastai_twin.py"), str(config), "--out", str(out)] + [a for s in sets for a in ("--set", s)] + flags
    print("$ " + " ".join(args), flush=True)
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.run(args, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        sys.exit(f"fastai twin failed ({proc.returncode}); see {log}")
    res = json.loads(out.read_text())
    res["seconds_wall"] = time.time() - t0
    res["engine"] = label
    for i, e in enumerate(res["epochs"]):
        e["epoch"] = i + 1
    return res


def per_phase(run: dict, n_phases: int) -> list:
    """valid RMSE after the last epoch of each phase."""
    last = {}
    for e in run["epochs"]:
        last[e["phase"]] = e["valid_rmse"]
    return [last.get(p) for p in range(n_phases)]


def table(cfg: dict, runs: list[dict], baseline: float | None) -> str:
    phases = cfg["train"]["phases"]
    head = ["phase", "size", "epochs", "freeze", "lr", "dropout"] + [f"{r['engine']} valid RMSE" for r in runs]
    if len(runs) >= 2:
        head.append(f"{runs[1]['engine']} − {runs[0]['engine']}")
    rows = [head, ["---"] * len(head)]
    cols = [per_phase(r, len(phases)) for r in runs]
    for i, ph in enumerate(phases):
        lr = ph["lr"]
        lr_s = f"slice({lr[0]:g}, {lr[1]:g})" if isinstance(lr, list) else f"{lr:g}"
        row = [f"{i + 1} {ph.get('name', '')}", str(ph["size"]), str(ph["epochs"]), ph["freeze"], lr_s,
               "" if ph.get("dropout") is None else f"{ph['dropout']:g}"]
        row += ["—" if c[i] is None else f"{c[i]:.4f}" for c in cols]
        if len(runs) >= 2:
            row.append("—" if None in (cols[0][i], cols[1][i]) else f"{cols[1][i] - cols[0][i]:+.4f}")
        rows.append(row)
    text = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    if baseline is not None:
        text += f"\n\nColumn-mean baseline (training means, known cells): {baseline:.4f}."
    return text


def fastai_version() -> str:
    try:
        import fastai

        return fastai.__version__
    except ImportError:
        return "2.x"


def train_table(cfg: dict, runs: list[dict]) -> str:
    """Epoch-mean train loss after each phase (runs that recorded it)."""
    phases = cfg["train"]["phases"]
    have = []
    for r in runs:
        key = "train_loss" if r["engine"] == "gzx" else "train_loss_mean"
        if all(e.get(key) is not None for e in r["epochs"]):
            last = {}
            for e in r["epochs"]:
                last[e["phase"]] = e[key]
            have.append((r["engine"], [last.get(p) for p in range(len(phases))]))
    rows = [["phase"] + [f"{name} train loss" for name, _ in have], ["---"] * (1 + len(have))]
    for i, ph in enumerate(phases):
        rows.append([f"{i + 1} {ph.get('name', '')}"] + ["—" if v[i] is None else f"{v[i]:.4f}" for _, v in have])
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def plot(cfg: dict, runs: list[dict], baseline: float | None, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = cfg["train"]["phases"]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    styles = dict(zip(["gzx"] + [label for label, _ in FASTAI_ENGINES.values()],
                      [("tab:blue", "o"), ("tab:orange", "s"), ("tab:green", "^"), ("tab:purple", "v")]))
    for r in runs:
        c, m = styles.get(r["engine"], ("k", "x"))
        xs = [e["epoch"] for e in r["epochs"]]
        ax.plot(xs, [e["valid_rmse"] for e in r["epochs"]], marker=m, color=c, label=r["engine"])
        key = "train_loss" if r["engine"] == "gzx" else "train_loss_mean"  # epoch means of batch losses
        if all(e.get(key) is not None for e in r["epochs"]):
            ax2.plot(xs, [e[key] for e in r["epochs"]], marker=m, color=c, label=r["engine"])
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls=":", label=f"column-mean baseline {baseline:.4f}")
    start = 0
    for i, ph in enumerate(phases):
        end = start + ph["epochs"]
        if i % 2 == 0:
            for a in (ax, ax2):
                a.axvspan(start + 0.5, end + 0.5, color="0.93", zorder=0)
        label = f"{i + 1}" + (" F" if ph["freeze"] == "backbone" else "") + f"\n{ph['size']}px"
        ax.text((start + end + 1) / 2, 1.01, label, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
        start = end
    ax2.set_xlabel("epoch (shaded bands: phases; F = backbone frozen)")
    ax.set_ylabel("valid RMSE (known cells)")
    ax2.set_ylabel("train loss (epoch mean)")
    if baseline is not None:
        ax2.axhline(baseline ** 2, color="grey", ls=":", label="baseline MSE")
    ax.set_title(f"{cfg['name']}: gzx vs fastai {fastai_version()} on one resolved config", pad=28)
    ax.set_xlim(0.5, start + 0.5)
    ax.legend(fontsize=8)
    ax2.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {rel(out)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=HERE / "recipe-resnet18.yaml")
    ap.add_argument("--set", action="append", default=[], help="gzx --set, passed to both engines")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "gzx-recipe")
    ap.add_argument("--engines", default="gzx,fastai", help="comma list of gzx, " + ", ".join(FASTAI_ENGINES))
    ap.add_argument("--results", type=Path, default=HERE / "results" / "recipe-resnet18.json")
    ap.add_argument("--plot", type=Path, default=HERE / "recipe.png")
    ap.add_argument("--keep", action="store_true", help="keep runs of other engines from --results")
    ap.add_argument("--replot", action="store_true", help="only redraw table and plot from --results")
    args = ap.parse_args()

    venv = os.environ.get("GZX_PARITY_VENV", str(REPO / ".venv" / "parity"))
    python = str(Path(venv) / "bin" / "python")

    if args.replot:
        res = json.loads(args.results.read_text())
        cfg, runs, baseline = res["config"], res["runs"], res.get("baseline_rmse")
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        sets = args.set
        cfg = gzx_config(args.config, sets)
        dw = cfg["data"]["with"]
        csv = (args.config.resolve().parent / dw["dir"] / dw["csv"]).resolve()
        if not dw.get("valid"):
            sys.exit("the recipe needs data.with.valid (a fixed validation set both engines hold out)")
        valid_file = (args.config.resolve().parent / dw["valid"]).resolve()
        n_valid = len(valid_file.read_text().split())
        print(f"recipe: {rel(args.config)}; {n_valid} validation ids in {rel(valid_file)}", flush=True)
        runs = []
        for engine in args.engines.split(","):
            if engine == "gzx":
                runs.append(run_gzx(args.config, sets, args.work, args.work / "gzx.log"))
            elif engine in FASTAI_ENGINES:
                runs.append(run_fastai(python, args.config, sets, args.work, args.work / f"{engine}.log", engine))
            else:
                sys.exit(f"unknown engine {engine!r}")
            print(f"  {runs[-1]['engine']}: " + ", ".join(f"{v:.4f}" for v in per_phase(runs[-1], len(cfg['train']['phases'])) if v is not None), flush=True)
        if args.keep and args.results.exists():
            done = {r["engine"] for r in runs}
            runs += [r for r in json.loads(args.results.read_text())["runs"] if r["engine"] not in done]
            order = {"gzx": 0, **{label: i + 1 for i, (label, _) in enumerate(FASTAI_ENGINES.values())}}
            runs.sort(key=lambda r: order.get(r["engine"], 9))
        baseline = column_mean_baseline(csv, valid_file)
        for r in runs:
            if r.get("baseline_rmse") is not None and abs(r["baseline_rmse"] - baseline) > 1e-4:
                print(f"warning: {r['engine']} reports baseline {r['baseline_rmse']:.5f}, this script {baseline:.5f}")
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps({"config": cfg, "valid_ids": rel(valid_file),
                                            "baseline_rmse": baseline, "runs": runs}, indent=1) + "\n")
        print(f"wrote {rel(args.results)}")
    print()
    print(table(cfg, runs, baseline))
    print()
    print(train_table(cfg, runs))
    plot(cfg, runs, baseline, args.plot)


if __name__ == "__main__":
    main()
