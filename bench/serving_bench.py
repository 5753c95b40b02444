r"""Serving benchmark: latency and throughput of the exported SavedModel on CPU.

    python bench/serving_bench.py [--export=exports/crocodile/1] [--seconds=3]

Without --export, it builds one: synthetic KuaiRand-1K raw data (crocodile-synth), the
KuaiRand converter, a short Crocodile training run at the reference widths (SPEC §9), and
crocodile-export. It then loads the SavedModel (tf.saved_model.load, the same graph TF Serving
runs) and times the `serving_default` signature (raw named tensors, preprocessing included) and
`predict_examples` (serialized tf.Example parsing included) at batch 1, 64 and 512: p50/p99
latency per call and rows/s. Prints a table and writes bench/results/serving_bench.json.
In-process timings exclude TF Serving's RPC/REST overhead and its batching.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import numpy as np
import tensorflow as tf

from crocodile_tf.export import signatures as sig
from crocodile_tf.export import warmup
from crocodile_tf.export.preprocess import raw_values_for_ids
from crocodile_tf.features import FeatureSchema

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = (1, 64, 512)


def build_export(workdir: str, rows: int, steps: int) -> str:
    from crocodile_tf import config as config_lib
    from crocodile_tf.export import export_model
    from crocodile_tf.models import ModelConfig
    from crocodile_tf.pipelines.conversion import ConvertOptions, convert
    from crocodile_tf.pipelines.kuairand import KuaiRandSource
    from crocodile_tf.pipelines.synthetic import synth_kuairand
    from crocodile_tf.train import train

    raw, data, run = (os.path.join(workdir, d) for d in ("raw", "data", "run"))
    synth_kuairand(raw, rows, seed=0)
    convert(KuaiRandSource(raw), ConvertOptions(output_dir=data, shards=2, progress=False))
    config = config_lib.TrainConfig(model="crocodile", model_config=ModelConfig(), batch_size=1024,
                                    epochs=1, steps_per_epoch=steps, checkpoint_every=steps,
                                    log_every=steps)
    train(config, data, run, verbose=0)
    return export_model(run, os.path.join(workdir, "exports"), data_dir=data, warmup_rows=64)


def dir_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def time_calls(fn, seconds: float, min_calls: int = 20) -> np.ndarray:
    for _ in range(5):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return np.asarray(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", help="An exported version dir (default: build one).")
    parser.add_argument("--rows", type=int, default=100_000, help="Synthetic rows (no --export).")
    parser.add_argument("--steps", type=int, default=50, help="Training steps (no --export).")
    parser.add_argument("--seconds", type=float, default=3.0, help="Timing per configuration.")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "serving_bench.json"))
    args = parser.parse_args(argv)

    tmp = None
    path = args.export
    if not path:
        tmp = tempfile.TemporaryDirectory(prefix="serving_bench_")
        started = time.time()
        path = build_export(tmp.name, args.rows, args.steps)
        print(f"built {path} in {time.time() - started:.0f}s")
    schema = FeatureSchema.load(os.path.join(path, "assets.extra", "schema.json"))
    with open(os.path.join(path, "assets.extra", "export.json")) as f:
        info = json.load(f)

    started = time.perf_counter()
    loaded = tf.saved_model.load(path)
    load_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    ids = {f.name: rng.integers(0, f.vocab_size, max(BATCHES)) for f in schema.fields}
    # The export's assets/ holds the vocabularies (flattened); expose them as vocab/ for the
    # schema's relative paths.
    vocab_root = tempfile.mkdtemp(prefix="serving_bench_vocab_")
    os.symlink(os.path.abspath(os.path.join(path, "assets")), os.path.join(vocab_root, "vocab"))
    raw = raw_values_for_ids(schema, vocab_root, ids)

    results = []
    for batch in BATCHES:
        part = {k: v[:batch] for k, v in raw.items()}
        tensors = {k: tf.constant(v) for k, v in warmup.serving_arrays(schema, part).items()}
        examples = tf.constant([e.SerializeToString() for e in warmup.make_examples(schema, part)])
        calls = {
            sig.SERVING_DEFAULT: lambda: loaded.signatures[sig.SERVING_DEFAULT](**tensors),
            sig.PREDICT_EXAMPLES:
                lambda: loaded.signatures[sig.PREDICT_EXAMPLES](examples=examples),
        }
        for name, fn in calls.items():
            t = time_calls(fn, args.seconds)
            row = {"signature": name, "batch": batch, "calls": int(len(t)),
                   "p50_ms": round(float(np.percentile(t, 50)) * 1e3, 3),
                   "p99_ms": round(float(np.percentile(t, 99)) * 1e3, 3),
                   "rows_per_s": round(batch * len(t) / float(t.sum()), 1)}
            results.append(row)
            print(f"{name:17s} batch {batch:4d}: p50 {row['p50_ms']:8.3f} ms  p99 "
                  f"{row['p99_ms']:8.3f} ms  {row['rows_per_s']:11,.0f} rows/s")

    out = {
        "export": path, "model": info["model"], "fields": len(schema.fields),
        "export_bytes": dir_bytes(path),
        "export_bytes_by_part": {p: dir_bytes(os.path.join(path, p)) for p in
                                 ("variables", "assets", "assets.extra")},
        "saved_model_pb_bytes": os.path.getsize(os.path.join(path, "saved_model.pb")),
        "load_seconds": round(load_seconds, 2), "results": results,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": sys.version.split()[0], "tensorflow": tf.__version__,
                    "load_average": os.getloadavg()},
        "note": "in-process tf.saved_model.load on CPU; excludes TF Serving RPC/REST and batching",
    }
    print(f"export size {out['export_bytes'] / 1e6:.2f} MB "
          f"(variables {out['export_bytes_by_part']['variables'] / 1e6:.2f} MB); "
          f"load {load_seconds:.1f}s")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.output}")
    if tmp is not None:
        tmp.cleanup()
    return out


if __name__ == "__main__":
    main()
