"""Benchmark: does Lamarckian weight inheritance make LEMONADE cheaper? (not a test)

For each of ``--seeds`` seeds, runs LEMONADE twice on MNIST (the 10k IDX test images, split into train and validation
by seed, the train split subsampled for speed), same seed, same initial population:

* ``inherit``: a child starts from its parent's morphed weights and is fine-tuned for
  ``--inherit-epochs`` (approximate children by distillation from the parent);
* ``scratch``: the same strategy, every child trained from scratch for ``--epochs``.

It records the hypervolume (accuracy vs. FLOPs, scaled by the problem's bounds) against
the cumulative training epochs of all evaluated candidates, writes both curves to JSON
and PNG, and reports the fraction of the scratch run's total epochs the inheritance run
needed to reach the scratch run's final hypervolume (target: at most 1/3), per seed and
its median.

The inheritance run may spend the scratch run's epochs (``--inherit-evaluations`` 260 = 72
epochs); a search does not depend on its budget, so its first 116 candidates (half the epochs)
are those of a shorter run. A child needs little training: it starts where its parent's training
ended, and its lineage's epochs accumulate. Each fine-tune starts at a learning rate scaled by the
child's starting loss (``--finetune-lr-fraction 0.1`` restores the fixed fraction used before),
and approximate children are first fitted to their parent by least squares. On 2 cores of an AMD
EPYC (AVX-512), seeds 0-4 need 0.330, 0.767, 0.264, 0.170 and 0.267 of the scratch epochs (median
0.267, every seed reaches it); seeds 5-9 (``--first-seed 5``) 0.188, never, 0.326, 0.167 and
0.354. About 30-40 minutes with --jobs 2. Other CPUs round training differently, so each search
takes another path.

    python benchmarks/lemonade_inheritance.py --seeds 5 --jobs 2 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from evonas.mobilenet.problem import ImageClassification, Splits, accuracy_objective
from evonas.mobilenet.data import load_dataset
from evonas.engine.driver import MaxEvaluations, Search
from evonas.mobilenet.space import MobileNetSpace, SpaceConfig
from evonas.engine.store import RunStore
from evonas.mobilenet.training import TrainConfig, accuracy, train
from hardware.objectives import flops
from populations.lemonade import Lemonade


# Small networks so both runs finish in minutes on 2 CPU cores: 3 stages, stem stride 2.
BENCH_SPACE = SpaceConfig(stem_widths=(8,), stage_widths=((8, 12), (12, 16), (16, 24)), strides=(1, 2, 2),
                          depths=(1, 2, 3), kernels=(3, 5, 7), expands=(2, 3, 4), stem_stride=2)


def make_problem(args, inherit_epochs: float) -> ImageClassification:
    data = load_dataset(args.data)
    splits = Splits.from_dataset(data, args.val_fraction, args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    keep = torch.randperm(len(splits.x_train), generator=gen)[:args.train_size]
    splits = replace(splits, x_train=splits.x_train[keep], y_train=splits.y_train[keep])
    space = MobileNetSpace(BENCH_SPACE)
    train_cfg = TrainConfig(args.epochs, args.batch_size, args.lr, finetune_lr_fraction=args.finetune_lr_fraction,
                            repair_rounds=args.repair_rounds)
    return ImageClassification(splits, space, (accuracy_objective(), flops()), train_cfg, args.seed, inherit_epochs)


def run(args, label: str, inherit_epochs: float, evaluations: int) -> dict:
    problem = make_problem(args, inherit_epochs)
    strategy = Lemonade(args.n_pc, args.n_ac, args.n_init, ("params", "flops"))
    curve = {"epochs": [], "hypervolume": [], "accuracy": [], "flops": [], "operator": [], "parent": [],
             "inherited": []}
    total = [0.0]

    def record(search, trial):
        total[0] += trial.fidelity or 0.0
        curve["epochs"].append(total[0])
        curve["hypervolume"].append(search.hypervolume())
        curve["accuracy"].append(trial.metrics.get("accuracy"))
        curve["flops"].append(trial.metrics.get("flops"))
        curve["operator"].append(trial.operator)
        curve["parent"].append(trial.parent_id)
        curve["inherited"].append(trial.metrics.get("inherited"))
        print(f"[{label} s{args.seed}] {len(curve['epochs']):3d} {trial.operator:14s} parent={trial.parent_id} "
              f"acc={trial.metrics.get('accuracy', float('nan')):.4f} "
              f"epochs={total[0]:6.2f} hv={curve['hypervolume'][-1]:.4f}", flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore.create(Path(tmp) / label, {"benchmark": label})
        search = Search(problem, strategy, MaxEvaluations(evaluations), args.seed, store, callbacks=(record,))
        search.run()
        store.close()
    curve["seconds"] = time.perf_counter() - t0
    curve["front"] = [{"genome": str(t.genome), **{k: t.metrics[k] for k in ("accuracy", "flops", "params")}}
                      for t in search.front()]
    return curve


def epochs_to_reach(curve: dict, target: float) -> float | None:
    """Cumulative epochs at which ``curve`` first reaches hypervolume ``target``."""
    return next((e for e, hv in zip(curve["epochs"], curve["hypervolume"]) if hv >= target - 1e-12), None)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = results["per_seed"]
    fig, axes = plt.subplots(1, len(seeds), figsize=(5 * len(seeds), 4), squeeze=False)
    for ax, r in zip(axes[0], seeds):
        for label, curve in r["runs"].items():
            ax.step(curve["epochs"], curve["hypervolume"], where="post", label=label)
        ax.axhline(r["scratch_final_hv"], color="grey", ls=":", lw=1, label="scratch final HV")
        ax.axvline(r["scratch_total_epochs"] / 3, color="red", ls="--", lw=1, label="1/3 of scratch epochs")
        ax.set_xlabel("cumulative training epochs")
        ax.set_ylabel("hypervolume (accuracy vs FLOPs)")
        ax.set_title(f"seed {r['seed']}")
        ax.legend(fontsize=8)
    fig.suptitle("LEMONADE on MNIST: weight inheritance vs training from scratch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def compare(args, seed: int) -> dict:
    """Both runs for one seed, and the epochs the inheritance run needed to reach the scratch run's final HV."""
    torch.set_num_threads(args.threads)
    args = argparse.Namespace(**{**vars(args), "seed": seed})
    runs = {"scratch": run(args, "scratch", 0.0, args.evaluations),
            "inherit": run(args, "inherit", args.inherit_epochs, args.inherit_evaluations)}
    target = runs["scratch"]["hypervolume"][-1]
    reach = epochs_to_reach(runs["inherit"], target)
    scratch_total = runs["scratch"]["epochs"][-1]
    return {
        "seed": seed, "runs": runs, "scratch_final_hv": target,
        "inherit_final_hv": runs["inherit"]["hypervolume"][-1],
        "scratch_total_epochs": scratch_total, "inherit_total_epochs": runs["inherit"]["epochs"][-1],
        "inherit_epochs_to_reach_scratch_final_hv": reach,
        "fraction_of_scratch_epochs": None if reach is None else reach / scratch_total,
    }


def parser() -> argparse.ArgumentParser:
    """This benchmark's options; their defaults are the setting the per-child benchmarks reuse."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--evaluations", type=int, default=36, help="candidates of the scratch run")
    p.add_argument("--inherit-evaluations", type=int, default=260,
                   help="candidates of the inheritance run (260: the scratch run's 72 epochs in all, so a seed "
                   "that never reaches the scratch hypervolume never does with the same training; 116: half)")
    p.add_argument("--epochs", type=float, default=2.0, help="epochs of a candidate trained from scratch")
    p.add_argument("--inherit-epochs", type=float, default=0.25, help="fine-tune epochs of an inheriting child")
    p.add_argument("--finetune-lr-fraction", type=float, default=None,
                   help="fixed starting learning rate of a child's fine-tune, as a fraction of --lr (default: "
                   "scaled by the child's starting loss; 0.1 was the fixed default before)")
    p.add_argument("--repair-rounds", type=int, default=TrainConfig.repair_rounds,
                   help="most rounds of --inherit-epochs an approximate child's repair may take")
    p.add_argument("--train-size", type=int, default=2000, help="training images kept after the split")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-2)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--n-init", type=int, default=4)
    p.add_argument("--n-pc", type=int, default=8)
    p.add_argument("--n-ac", type=int, default=2)
    p.add_argument("--seeds", type=int, default=5, help="independent pairs of runs, seeds S..S+K-1")
    p.add_argument("--first-seed", type=int, default=0, help="S, the first seed (results of S > 0 are written "
                   "to lemonade_inheritance_seeds<S>-<S+K-1>.json/.png)")
    p.add_argument("--jobs", type=int, default=1, help="seeds run at once, one process each (no timing is involved)")
    return p


def default_problem(data: str, seed: int, inherit_epochs: float) -> ImageClassification:
    """The problem of one seed with this benchmark's default settings (its split, space and training)."""
    args = parser().parse_args(["--data", data])
    return make_problem(argparse.Namespace(**{**vars(args), "seed": seed}), inherit_epochs)


def trained_parent(problem: ImageClassification, genome, k: int, epochs: float) -> tuple[torch.nn.Module, float]:
    """``genome`` built and trained from scratch for ``epochs`` with generators seeded ``k``, and its accuracy."""
    s = problem.splits
    model = problem.build(genome, torch.Generator().manual_seed(k))
    train(model, s.x_train, s.y_train, problem.train_config, torch.Generator().manual_seed(k), epochs=epochs)
    return model, accuracy(model, s.x_val, s.y_val)


def main() -> None:
    args = parser().parse_args()
    torch.set_num_threads(args.threads)

    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        per_seed = list(pool.map(partial(compare, args), range(args.first_seed, args.first_seed + args.seeds)))
    fractions = [r["fraction_of_scratch_epochs"] for r in per_seed]
    reached = [f for f in fractions if f is not None]
    results = {
        # training's float rounding, and so each search's path, depends on the CPU's kernels
        "settings": {**vars(args), "cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "per_seed": per_seed, "fractions": fractions,
        "median_fraction_of_scratch_epochs": float(np.median([np.inf if f is None else f for f in fractions])),
        "seeds_reaching_scratch_hv": len(reached),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "lemonade_inheritance" + (f"_seeds{args.first_seed}-{args.first_seed + args.seeds - 1}"
                                     if args.first_seed else "")
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    plot(results, out / f"{stem}.png")
    summary = [{k: v for k, v in r.items() if k != "runs"} for r in per_seed]
    print(json.dumps({"per_seed": summary, "fractions": fractions,
                      "median_fraction_of_scratch_epochs": results["median_fraction_of_scratch_epochs"]}, indent=2))


if __name__ == "__main__":
    main()
