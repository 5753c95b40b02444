"""Steady-state training speed, size and peak memory of every model of the zoo.

For each model: build it at SPEC §9's reference configuration on KuaiRand-shaped ids (40 fields,
vocabularies 2..200,000, plus the domain; embedding dim 16, experts [256, 128], towers [64]),
compile with the training binary's optimizer (`--optimizers`: "split" = LazyAdam on the
embedding tables + Adam on dense weights, the default; "adam" = one Adam, whose dense update of
every embedding row makes the step cost grow with the vocabulary), run `--warmup` training
steps (tracing, first allocations), then time
`--repeats` windows of `--steps` steps and report the median examples/s. Each model runs in its
own subprocess so that the peak RSS (`resource.getrusage`) is that model's alone. Besides the
registry's models, `crocodile[cov_weight=0]` is Crocodile without CovLoss's computation, for the
paper's claim that the loss costs little (`cov_overhead` = step time ratio, target <= 1.10), and
MMoE is run with 4 experts (the speed target's configuration).

Usage: python bench/train_bench.py [--models mmoe,crocodile] [--optimizers split,adam] [--steps 50]
       [--batch_size 1024] [--repeats 3] [--out bench/results/train_bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NO_COV = "crocodile[cov_weight=0]"
# Per-entry config changes on top of the reference ModelConfig.
OVERRIDES = {"mmoe": {"num_experts": 4}, NO_COV: {"cov_weight": 0.0}}


def entries() -> list[str]:
    sys.path.insert(0, REPO)
    from crocodile_tf.models import model_names
    return model_names() + [NO_COV]


def run_one(name: str, optimizer: str, steps: int, batch_size: int, repeats: int,
            warmup: int) -> dict:
    """Measured in this process (called in a fresh subprocess per model)."""
    import resource

    import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
    import tensorflow as tf

    from crocodile_tf.models import ModelConfig, build_model
    from crocodile_tf.optimizers import make_optimizer
    from crocodile_tf.pipelines.planted import kuairand_shaped_problem

    tf.keras.utils.set_random_seed(0)
    batches = 32
    data = kuairand_shaped_problem(batches * batch_size, seed=0)
    config = ModelConfig(**OVERRIDES.get(name, {}))
    model = build_model(name.split("[")[0], data.schema, config)
    model.compile(optimizer=make_optimizer(optimizer, model, 1e-3, 1e-3))
    dataset = (tf.data.Dataset.from_tensor_slices((data.features, data.labels))
               .batch(batch_size, drop_remainder=True).cache().repeat()
               .prefetch(tf.data.AUTOTUNE))
    iterator = iter(dataset)
    train_function = model.make_train_function()
    for _ in range(warmup):
        logs = train_function(iterator)
    float(logs["loss"])
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            logs = train_function(iterator)
        float(logs["loss"])  # wait for the last step
        seconds.append((time.perf_counter() - start) / steps)
        cpu_seconds.append((time.process_time() - cpu_start) / steps)
    step = statistics.median(seconds)
    return {
        "model": name,
        "optimizer": optimizer,
        "config": config.to_dict(),
        "params": int(model.count_params()),
        "step_ms": round(1000 * step, 2),
        "step_ms_windows": [round(1000 * s, 2) for s in seconds],
        "examples_per_s": round(batch_size / step),
        # CPU seconds per step (all threads): wall time x cores when the machine is otherwise
        # idle; a much smaller ratio means other processes were competing for the cores.
        "cpu_ms_per_step": round(1000 * statistics.median(cpu_seconds), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "final_loss": float(logs["loss"]),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="all",
                        help=f"comma-separated names (registry names or {NO_COV!r}), or 'all'")
    parser.add_argument("--optimizers", default="split",
                        help="comma-separated optimizers to run each model with: split, adam")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per window")
    parser.add_argument("--batch_size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="timed windows; the median is kept")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (tracing)")
    parser.add_argument("--out", default=os.path.join(REPO, "bench", "results", "train_bench.json"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for flag in ("steps", "batch_size", "repeats"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")

    optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    bad = [o for o in optimizers if o not in ("split", "adam")]
    if bad or not optimizers:
        parser.error(f"--optimizers: unknown {bad or optimizers}; choose from split, adam")
    if args.worker:
        print(json.dumps(run_one(args.worker, optimizers[0], args.steps, args.batch_size,
                                 args.repeats, args.warmup)))
        return

    known = entries()
    names = known if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {known}")

    results = []
    for name, optimizer in [(n, o) for o in optimizers for n in names]:
        command = [sys.executable, os.path.abspath(__file__), "--worker", name,
                   "--optimizers", optimizer, "--steps", str(args.steps), "--batch_size", str(args.batch_size),
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": REPO})
        if done.returncode != 0:
            sys.exit(f"train_bench: {name} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['model']:<26} {r['optimizer']:<6} {r['examples_per_s']:>9,} ex/s {r['step_ms']:>8.1f} ms/step "
              f"{r['cpu_ms_per_step']:>8.1f} cpu-ms/step "
              f"{r['params']:>12,} params {r['peak_rss_mb']:>7,} MB peak RSS", flush=True)

    summary = {}
    by_key = {(r["model"], r["optimizer"]): r for r in results}
    for optimizer in optimizers:
        if ("crocodile", optimizer) in by_key and (NO_COV, optimizer) in by_key:
            ratio = by_key["crocodile", optimizer]["step_ms"] / by_key[NO_COV, optimizer]["step_ms"]
            cpu = (by_key["crocodile", optimizer]["cpu_ms_per_step"]
                   / by_key[NO_COV, optimizer]["cpu_ms_per_step"])
            summary[f"cov_overhead_{optimizer}"] = round(ratio, 3)
            summary[f"cov_overhead_cpu_{optimizer}"] = round(cpu, 3)
            print(f"CovLoss overhead ({optimizer}): crocodile / {NO_COV} step time = {ratio:.3f}x, "
                  f"CPU time = {cpu:.3f}x (target <= 1.10)")
    report = {
        "benchmark": "train_bench",
        "optimizers": optimizers, "batch_size": args.batch_size, "steps": args.steps, "repeats": args.repeats,
        "warmup": args.warmup,
        "data": "kuairand_shaped_problem: 40 fields, vocab 2..200000 + 5 domains, embedding dim 16",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "results": results,
        **summary,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
