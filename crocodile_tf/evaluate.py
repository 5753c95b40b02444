r"""`crocodile-evaluate`: per-domain AUC / gAUC / logloss of a trained model_dir.

    crocodile-evaluate --model_dir=runs/crocodile --data_dir=data/kuairand [--split=test]

Writes metrics.json and metrics.md into model_dir and prints the table.
"""

from __future__ import annotations

import os

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf
from absl import app, flags

from crocodile_tf.metrics import metrics_markdown
from crocodile_tf.train import evaluate_model_dir

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("model_dir", None, "A crocodile-train model_dir.")
    flags.DEFINE_string("data_dir", None, "Converted data (default: the run's own data).")
    flags.DEFINE_enum("split", "test", ["train", "val", "test"], "Split to evaluate.")
    flags.DEFINE_enum("weights", "best", ["best", "latest"],
                      "Best-validation weights or the latest checkpoint.")


def main(argv) -> None:
    del argv
    if not FLAGS.model_dir or not FLAGS.data_dir:
        raise app.UsageError("--model_dir and --data_dir are required.")
    if not tf.io.gfile.exists(os.path.join(FLAGS.model_dir, "config.json")):
        raise app.UsageError(f"--model_dir={FLAGS.model_dir}: no config.json; not a crocodile-train run.")
    result = evaluate_model_dir(FLAGS.model_dir, FLAGS.data_dir, FLAGS.split, FLAGS.weights)
    print(metrics_markdown(result["metrics"]))
    print(f"wrote {os.path.join(FLAGS.model_dir, 'metrics.json')} and metrics.md")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
