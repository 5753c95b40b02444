r"""`make demo`: the whole job on an embedded default, from nothing.

1. synthesize a KuaiRand-1K-shaped raw data set (raw file names and columns, 5 tabs in the
   paper's proportions, planted domain-specific and partly conflicting preferences);
2. convert it to TFRecords (crocodile-convert's engine);
3. train MMoE, ME-MMoE and Crocodile on it (crocodile-experiment's runner, preset `demo`) and
   print the per-domain AUC / gAUC table;
4. export Crocodile as a TF Serving SavedModel and score a few raw rows through the reloaded
   export.

    python -m crocodile_tf.demo --out_dir=demo_out [--rows=300000] [--seeds=3]
"""

from __future__ import annotations

import os
import time

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
from absl import app, flags

import pandas as pd
import tensorflow as tf

from crocodile_tf import config as config_lib
from crocodile_tf import tables
from crocodile_tf.experiment import run_dir, run_experiment
from crocodile_tf.export import export_model
from crocodile_tf.export.warmup import serving_arrays
from crocodile_tf.features import FeatureSchema
from crocodile_tf.pipelines import make_source, synth_kuairand
from crocodile_tf.pipelines.conversion import ConvertOptions, convert
from crocodile_tf.pipelines import kuairand
from crocodile_tf.train import quiet_tensorflow_info

FLAGS = flags.FLAGS
MODELS = ("mmoe", "me_mmoe", "crocodile")


def define_flags() -> None:
    flags.DEFINE_string("out_dir", "demo_out", "Where every artifact goes.")
    flags.DEFINE_integer("rows", 300_000, "Synthetic raw rows.")
    flags.DEFINE_integer("seeds", 3, "Seeds per model (the table's significance marks need >= 2).")
    flags.DEFINE_integer("seed", 0, "Seed of the synthetic data.")


def raw_rows(raw_dir: str, schema: FeatureSchema, count: int) -> pd.DataFrame:
    """The last `count` rows of the raw log (test days) of trained domains, joined with the raw
    user and video tables: the values a serving client would send."""
    log = pd.read_csv(os.path.join(raw_dir, kuairand.LOG_FILES[-1])).tail(5000)
    log = log[log["tab"].astype(str).isin(schema.domains)].tail(count)
    users = pd.read_csv(os.path.join(raw_dir, kuairand.USER_FILE))
    basic = pd.read_csv(os.path.join(raw_dir, kuairand.VIDEO_BASIC_FILE))
    stats = pd.read_csv(os.path.join(raw_dir, kuairand.VIDEO_STATISTIC_FILE))
    stats = stats.rename(columns={c: kuairand.VIDEO_STAT_PREFIX + c for c in stats.columns if c != "video_id"})
    rows = log.merge(users, on="user_id", how="left", suffixes=("", "_user"))
    return rows.merge(basic, on="video_id", how="left").merge(stats, on="video_id", how="left")


def score_through_export(version_dir: str, raw_dir: str, count: int = 5) -> str:
    """Loads the exported SavedModel and scores raw rows with its serving_default signature."""
    schema = FeatureSchema.load(os.path.join(version_dir, "assets.extra", "schema.json"))
    rows = raw_rows(raw_dir, schema, count)
    inputs = serving_arrays(schema, {f.name: rows[f.name].to_numpy() for f in schema.fields})
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    ctr = serve(**{k: tf.constant(v) for k, v in inputs.items()})["ctr"].numpy().reshape(-1)
    lines = ["| user_id | video_id | tab | is_click | predicted ctr |", "| --- | --- | --- | --- | --- |"]
    for (_, row), p in zip(rows.iterrows(), ctr):
        lines.append(f"| {row['user_id']} | {row['video_id']} | {row['tab']} | {row['is_click']} | {p:.4f} |")
    return "\n".join(lines)


def step(title: str) -> float:
    print(f"\n=== {title} ===", flush=True)
    return time.time()


def main(argv) -> None:
    del argv
    quiet_tensorflow_info()
    out = os.path.abspath(FLAGS.out_dir)
    raw, data, experiment = (os.path.join(out, d) for d in ("raw", "data", "experiment"))
    started = time.time()

    t = step(f"1/4 synthesize {FLAGS.rows:,} KuaiRand-1K-shaped raw rows -> {raw}")
    if not os.path.exists(os.path.join(raw, "user_features_1k.csv")):
        synth_kuairand(raw, FLAGS.rows, seed=FLAGS.seed)
    print(f"done in {time.time() - t:.0f} s")

    t = step(f"2/4 convert to TFRecords -> {data}")
    if not os.path.exists(os.path.join(data, "stats.json")):
        convert(make_source("kuairand1k", input_dir=raw), ConvertOptions(output_dir=data, progress=False))
    print(f"done in {time.time() - t:.0f} s")

    t = step(f"3/4 train {', '.join(MODELS)} x {FLAGS.seeds} seed(s) -> {experiment}")
    table = run_experiment(data, experiment, MODELS, list(range(FLAGS.seeds)),
                           config_lib.preset("demo"), base_model="mmoe")
    print(tables.to_markdown(table))
    print(f"done in {time.time() - t:.0f} s")

    t = step("4/4 export Crocodile for TF Serving and score raw rows through the reloaded export")
    export_dir = os.path.join(out, "export")
    version_dir = export_model(run_dir(experiment, "crocodile", 0), export_dir, data_dir=data)
    print(f"exported {version_dir} (signatures serving_default, predict_examples, classify)")
    print("raw rows from the raw KuaiRand files, scored by the reloaded SavedModel:")
    print(score_through_export(version_dir, raw))
    print(f"done in {time.time() - t:.0f} s")

    print(f"\nAll artifacts, {time.time() - started:.0f} s in all:")
    print(f"  raw data        {raw}")
    print(f"  TFRecords       {data}  (schema.json, stats.json, vocab/, rejects.csv)")
    print(f"  runs            {os.path.join(experiment, 'runs')}/<model>/seed_<s>  "
          "(config.json, best/, backup/, logs/ for TensorBoard, metrics.json)")
    print(f"  results table   {os.path.join(experiment, 'table.md')} (.csv, .json)")
    print(f"  SavedModel      {version_dir}  (TF Serving: {os.path.join(export_dir, 'models.config')})")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
