"""Converter and input-pipeline throughput (issue 3).

    .venv/bin/python bench/convert_bench.py [--rows=1000000] [--batch_size=4096]

Measures, on a synthetic raw KuaiRand-1K set of --rows rows:
  * crocodile-synth time;
  * the KuaiRand converter end to end (rows read / wall seconds of `convert`, all passes);
  * make_dataset batches/s (and rows/s) at --batch_size over the converted train split;
  * Example serialization: per-row tf.train.Example vs the vectorized encoder (before/after);
  * Parquet reading for the generic converter: pyarrow vs tensorflow-io (kept: the faster).
Prints the figures and saves bench/results/convert_bench.json. Targets: converter >= 200k
rows/s end to end on 2 cores; input pipeline fast.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time

from absl import app, flags

import crocodile_tf  # noqa: F401  (before tensorflow)
import numpy as np
import tensorflow as tf

from crocodile_tf.pipelines import conversion, make_dataset, synthetic, writer
from crocodile_tf.pipelines.convert import make_source

flags.DEFINE_integer("rows", 1_000_000, "Synthetic KuaiRand rows.")
flags.DEFINE_integer("batch_size", 4096, "make_dataset batch size.")
flags.DEFINE_integer("input_batches", 300, "Batches timed in the input benchmark.")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                           "convert_bench.json"), "Result JSON.")
FLAGS = flags.FLAGS


def bench_encoder(n=100_000):
    rng = np.random.default_rng(0)
    names = [f"feature_{i:02d}" for i in range(50)]
    sizes = [int(s) for s in rng.integers(2, 100_000, len(names))]
    ids = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    labels = rng.integers(0, 2, n).astype(np.float32)
    m = 20_000
    t = time.perf_counter()
    for r in range(m):
        ex = tf.train.Example(features=tf.train.Features(feature={
            **{name: tf.train.Feature(int64_list=tf.train.Int64List(value=[ids[r, f]]))
               for f, name in enumerate(names)},
            "label": tf.train.Feature(float_list=tf.train.FloatList(value=[labels[r]]))}))
        ex.SerializeToString()
    per_row = m / (time.perf_counter() - t)
    enc = writer.ExampleEncoder(names, sizes, "label")
    t = time.perf_counter()
    rows = enc.encode(ids, labels)
    vectorized = n / (time.perf_counter() - t)
    return {"fields": len(names), "tf_train_example_rows_per_s": round(per_row),
            "vectorized_rows_per_s": round(vectorized), "bytes_per_example": int(rows.shape[1])}


def bench_parquet(tmp, n=1_000_000):
    import pandas as pd
    import pyarrow.parquet as pq
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"uid": rng.integers(0, 1000, n), "iid": rng.integers(0, 50_000, n),
                          "price": rng.random(n), "scene": rng.integers(0, 5, n),
                          "click": rng.integers(0, 2, n)})
    path = os.path.join(tmp, "bench.parquet")
    frame.to_parquet(path, index=False)
    out = {"rows": n, "columns": list(frame.columns)}
    t = time.perf_counter()
    total = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=262_144):
        cols = {c: batch.column(c).to_numpy() for c in frame.columns}
        total += len(cols["uid"])
    out["pyarrow_rows_per_s"] = round(total / (time.perf_counter() - t))
    try:
        import tensorflow_io as tfio
        t = time.perf_counter()
        columns = {c: tf.TensorSpec(tf.TensorShape([]), tf.int64 if c != "price" else tf.float64)
                   for c in frame.columns}
        ds = tfio.IODataset.from_parquet(path, columns=columns).batch(262_144)
        total = 0
        for batch in ds:
            cols = {k.decode() if isinstance(k, bytes) else k: v.numpy() for k, v in batch.items()}
            total += len(next(iter(cols.values())))
        out["tensorflow_io_rows_per_s"] = round(total / (time.perf_counter() - t))
    except Exception as e:  # report, do not hide
        out["tensorflow_io_error"] = f"{type(e).__name__}: {e}"[:300]
    tfio_rate = out.get("tensorflow_io_rows_per_s", 0)
    out["kept"] = "pyarrow" if out["pyarrow_rows_per_s"] >= tfio_rate else "tensorflow_io"
    return out


def main(argv):
    del argv
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "tensorflow": tf.__version__}, "rows": FLAGS.rows}
    tmp = tempfile.mkdtemp(prefix="convert_bench_")
    try:
        raw, out = os.path.join(tmp, "raw"), os.path.join(tmp, "out")
        t = time.perf_counter()
        synthetic.synth_kuairand(raw, FLAGS.rows, seed=0)
        results["synth_seconds"] = round(time.perf_counter() - t, 2)
        results["raw_bytes"] = sum(os.path.getsize(os.path.join(raw, f)) for f in os.listdir(raw))
        print(f"synth: {FLAGS.rows:,} rows in {results['synth_seconds']} s")

        t = time.perf_counter()
        stats = conversion.convert(make_source("kuairand1k", input_dir=raw),
                                   conversion.ConvertOptions(out, shards=4))
        seconds = time.perf_counter() - t
        results["convert"] = {
            "seconds": round(seconds, 2), "rows_read": stats["rows_read"],
            "rows_per_s_end_to_end": round(stats["rows_read"] / seconds),
            "write_pass_seconds": stats["seconds_write_pass"],
            "fields": len(json.load(open(os.path.join(out, "schema.json")))["fields"]),
            "output_bytes": sum(os.path.getsize(os.path.join(dp, f))
                                for dp, _, fs in os.walk(out) for f in fs if f.endswith(".gz")),
        }
        print(f"convert: {results['convert']}")

        ds = make_dataset(out, "train", FLAGS.batch_size, repeat=True)
        it = iter(ds)
        for _ in range(20):
            next(it)
        t = time.perf_counter()
        for _ in range(FLAGS.input_batches):
            next(it)
        dt = time.perf_counter() - t
        results["make_dataset"] = {"batch_size": FLAGS.batch_size,
                                   "batches_per_s": round(FLAGS.input_batches / dt, 1),
                                   "rows_per_s": round(FLAGS.input_batches * FLAGS.batch_size / dt)}
        print(f"make_dataset: {results['make_dataset']}")

        results["encoder"] = bench_encoder()
        print(f"encoder: {results['encoder']}")
        results["parquet"] = bench_parquet(tmp)
        print(f"parquet: {results['parquet']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"saved {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
