r"""`crocodile-experiment`: models x seeds on one converted data set, the paper's table.

    crocodile-experiment --data_dir=data/kuairand --out_dir=runs/table2 \
        --models=mmoe,me_mmoe,crocodile --seeds=6 --base_model=mmoe --preset=kuairand1k

Each (model, seed) trains into out_dir/runs/<model>/seed_<s>/ and is skipped when its
metrics.json exists, so an interrupted experiment resumes where it stopped (an unfinished run
resumes from its own checkpoints). Writes out_dir/table.{md,csv,json}.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf
import tf_keras
from absl import app, flags, logging

from crocodile_tf import config as config_lib
from crocodile_tf import tables
from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import model_names
from crocodile_tf.train import quiet_tensorflow_info, train


def run_dir(out_dir: str, model: str, seed: int) -> str:
    return os.path.join(out_dir, "runs", model, f"seed_{seed}")


def finished(path: str) -> dict | None:
    metrics = os.path.join(path, "metrics.json")
    if not tf.io.gfile.exists(metrics):
        return None
    with tf.io.gfile.GFile(metrics) as f:
        result = json.load(f)
    return result if result.get("split") == "test" and "steps_trained" in result else None


def run_experiment(data_dir: str, out_dir: str, models: Sequence[str], seeds: Sequence[int],
                   base: config_lib.TrainConfig, base_model: str | None = None,
                   verbose: int = 0, analyze: bool = False) -> dict:
    """Trains every (model, seed) not yet finished; returns the table dict (also written).

    With `analyze`, DI and IA of every run are added (`crocodile_tf.analysis.experiment`):
    table["analysis"], a DI / IA table appended to table.md, analysis.{md,json}, dilemma.png.
    """
    unknown = [m for m in models if m not in model_names()]
    if unknown:
        raise ValueError(f"Unknown models {unknown}; registered: {model_names()}.")
    schema = FeatureSchema.load(data_dir)
    runs: dict[str, list[dict]] = {m: [] for m in models}
    for model in models:
        for seed in seeds:
            path = run_dir(out_dir, model, seed)
            result = finished(path)
            if result is None:
                logging.info("experiment: training %s seed %d -> %s", model, seed, path)
                tf_keras.backend.clear_session()
                result = train(base.replace(model=model, seed=seed), data_dir, path, verbose=verbose)
            else:
                logging.info("experiment: %s seed %d already finished, skipped", model, seed)
            runs[model].append(result["metrics"])
    table = tables.build_table(runs, schema.domains, base_model)
    table["seeds"] = list(seeds)
    tf.io.gfile.makedirs(out_dir)
    analysis_md = ""
    if analyze:
        from crocodile_tf.analysis.experiment import analyze_experiment, to_markdown
        run_dirs = {m: {s: run_dir(out_dir, m, s) for s in seeds} for m in models}
        table["analysis"] = analyze_experiment(data_dir, out_dir, run_dirs, table)
        analysis_md = "\n" + to_markdown(table["analysis"])
    for name, text in (("table.md", tables.to_markdown(table) + analysis_md),
                       ("table.csv", tables.to_csv(table)), ("table.json", tables.to_json(table))):
        with tf.io.gfile.GFile(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    return table


FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("data_dir", None, "Converted data (crocodile-convert output).")
    flags.DEFINE_string("out_dir", None, "Where runs and the table go.")
    flags.DEFINE_list("models", ["mmoe", "me_mmoe", "crocodile"], "Registered model names.")
    flags.DEFINE_string("seeds", "6", "Number of seeds R (seeds 0..R-1) or a comma list of seeds.")
    flags.DEFINE_string("base_model", None, "Model the lift column is relative to.")
    flags.DEFINE_string("preset", "demo", f"Named config: {', '.join(sorted(config_lib.PRESETS))}.")
    flags.DEFINE_integer("epochs", None, "Override the preset's epochs.")
    flags.DEFINE_string("params_override", "", "JSON object applied to the preset.")
    flags.DEFINE_bool("analyze", False, "Add DI (against the sdem runs) and IA columns and the "
                      "DI-vs-IA plot (crocodile_tf.analysis).")


def parse_seeds(text: str) -> list[int]:
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        return list(range(int(text)))
    except ValueError:
        raise app.UsageError(f"--seeds={text!r}: give a count (6) or a list (0,1,2).") from None


def main(argv) -> None:
    del argv
    quiet_tensorflow_info()
    if not FLAGS.data_dir or not FLAGS.out_dir:
        raise app.UsageError("--data_dir and --out_dir are required.")
    base = config_lib.preset(FLAGS.preset)
    try:
        if FLAGS.epochs:
            base = base.replace(epochs=FLAGS.epochs)
        base = config_lib.merge(base, config_lib.parse_override(FLAGS.params_override))
        table = run_experiment(FLAGS.data_dir, FLAGS.out_dir, FLAGS.models, parse_seeds(FLAGS.seeds),
                               base, FLAGS.base_model, analyze=FLAGS.analyze)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    print(tables.to_markdown(table))
    if FLAGS.analyze:
        print(f"analysis: {os.path.join(FLAGS.out_dir, 'analysis.md')} (dilemma.png)")
    print(f"table: {os.path.join(FLAGS.out_dir, 'table.md')} (.csv, .json)")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
