r"""`crocodile-train`: trains a registered model on converted TFRecords.

    crocodile-train --data_dir=data/kuairand --model_dir=runs/crocodile --model=crocodile \
        --preset=kuairand1k

Distributed: `--strategy={default,mirrored,multi_worker,parameter_server}` reads the cluster from
TF_CONFIG (docs/distributed.md).

Writes to model_dir: config.json (resolved config), schema.json + vocab/ (copied from the data,
so the model_dir is self-contained for evaluation and export), backup/ (step checkpoints for
resuming), best/ (weights with the best validation AUC), logs/ (TensorBoard), and after training
metrics.json + metrics.md (test split, best weights). Rerunning the same command resumes from the
latest checkpoint; a finished run is not retrained.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import math
import os
import shutil
import sys

import crocodile_tf  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf
import tf_keras
from absl import app, flags, logging

from crocodile_tf import config as config_lib
from crocodile_tf import distribute
from crocodile_tf.callbacks import DomainValidation, StepBackup, StepLogger, evaluate_dataset
from crocodile_tf.features import FeatureSchema
from crocodile_tf.metrics import metrics_markdown
from crocodile_tf.models import build_model, model_names
from crocodile_tf.optimizers import make_optimizer
from crocodile_tf.pipelines.input import make_dataset

BEST_DIR = "best"
BEST_WEIGHTS = os.path.join(BEST_DIR, "weights")
BEST_STATE = os.path.join(BEST_DIR, "best.json")


def copy_schema(data_dir: str, model_dir: str) -> FeatureSchema:
    """Copies schema.json (and its vocab/ files) into model_dir; returns the schema."""
    schema = FeatureSchema.load(data_dir)
    tf.io.gfile.makedirs(model_dir)
    tf.io.gfile.copy(os.path.join(data_dir, "schema.json"), os.path.join(model_dir, "schema.json"),
                     overwrite=True)
    vocab = os.path.join(data_dir, "vocab")
    if tf.io.gfile.isdir(vocab) and not tf.io.gfile.isdir(os.path.join(model_dir, "vocab")):
        shutil.copytree(vocab, os.path.join(model_dir, "vocab"))
    return schema


def training_rows(data_dir: str) -> int:
    """Rows of the training split, from the converter's stats.json or by counting records."""
    stats_path = os.path.join(data_dir, "stats.json")
    if tf.io.gfile.exists(stats_path):
        with tf.io.gfile.GFile(stats_path) as f:
            return int(json.load(f)["written"]["train"]["rows"])
    files = tf.io.gfile.glob(os.path.join(data_dir, "train", "part-*.tfrecord.gz"))
    return int(tf.data.TFRecordDataset(files, compression_type="GZIP").reduce(0, lambda n, _: n + 1))


class BestCheckpoint(tf_keras.callbacks.ModelCheckpoint):
    """Keeps the weights with the best validation AUC; the best value survives a resume."""

    def __init__(self, model_dir: str):
        super().__init__(os.path.join(model_dir, BEST_WEIGHTS), monitor="val_auc", mode="max",
                         save_best_only=True, save_weights_only=True, verbose=0)
        self.state_path = os.path.join(model_dir, BEST_STATE)
        if tf.io.gfile.exists(self.state_path):
            with tf.io.gfile.GFile(self.state_path) as f:
                self.best = json.load(f)["val_auc"]

    def on_epoch_end(self, epoch, logs=None):
        before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best != before:
            with tf.io.gfile.GFile(self.state_path, "w") as f:
                json.dump({"val_auc": float(self.best), "epoch": epoch + 1}, f)


def set_determinism(seed: int, deterministic: bool) -> None:
    tf_keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def restore_model(model_dir: str, weights: str = "best") -> tuple[tf_keras.Model, config_lib.TrainConfig,
                                                                FeatureSchema]:
    """Rebuilds the model of a model_dir and loads its best (or latest backup) weights."""
    config = config_lib.TrainConfig.load(model_dir)
    schema = FeatureSchema.load(model_dir)
    model = build_model(config.model, schema, config.model_config)
    path = os.path.join(model_dir, BEST_WEIGHTS)
    if weights == "best" and tf.io.gfile.exists(path + ".index"):
        model.load_weights(path).expect_partial()
    else:
        checkpoint = tf.train.latest_checkpoint(os.path.join(model_dir, "backup", "chief")) or \
            tf.train.latest_checkpoint(os.path.join(model_dir, "backup"))
        if checkpoint is None:
            raise FileNotFoundError(f"No trained weights in {model_dir} (neither {BEST_DIR}/ nor backup/).")
        tf.train.Checkpoint(model=model).read(checkpoint).expect_partial()
    return model, config, schema


def train(config: config_lib.TrainConfig, data_dir: str, model_dir: str, verbose: int | None = None,
          strategy: tf.distribute.Strategy | None = None) -> dict:
    """Trains (or resumes) one run; returns the test metrics of the best weights."""
    set_determinism(config.seed, config.deterministic)
    strategy = strategy or tf.distribute.get_strategy()
    chief = distribute.is_chief()  # only the chief writes to model_dir (multi-worker runs)
    schema = copy_schema(data_dir, model_dir) if chief else FeatureSchema.load(data_dir)
    if chief:
        config.save(model_dir)
    steps_per_epoch = config.steps_per_epoch or max(1, math.ceil(training_rows(data_dir) / config.batch_size))

    def train_input(input_context=None):
        return make_dataset(data_dir, "train", config.batch_size, input_context, shuffle=True, repeat=True,
                            deterministic=config.deterministic, seed=config.seed, schema=schema)

    parameter_server = distribute.is_parameter_server(strategy)
    train_ds = train_input() if distribute.strategy_name(strategy) == "default" else \
        distribute.training_input(strategy, train_input)
    val_ds = make_dataset(data_dir, "val", config.eval_batch_size, shuffle=False,
                          deterministic=True, schema=schema)
    with strategy.scope():
        model = build_model(config.model, schema, config.model_config)
        model.compile(optimizer=make_optimizer(
            config.optimizer, model, config.learning_rate,
            config.embedding_learning_rate or config.learning_rate, config.embedding_optimizer))

    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 0
    callbacks = [
        StepBackup(os.path.join(model_dir, "backup"), save_freq=config.checkpoint_every),
        DomainValidation(val_ds, schema),
        BestCheckpoint(model_dir),
        tf_keras.callbacks.EarlyStopping(monitor="val_auc", mode="max",
                                         patience=config.early_stopping_patience),
        tf_keras.callbacks.TensorBoard(os.path.join(model_dir, "logs"), update_freq=config.log_every,
                                       profile_batch=0),
    ]
    if not verbose and not parameter_server:  # no batch-level callbacks under parameter servers
        callbacks.append(StepLogger(config.log_every))
    if config.log_ia and chief and not parameter_server:
        from crocodile_tf.analysis import InformationAbundanceLogger  # matplotlib-free, but heavy
        callbacks.append(InformationAbundanceLogger.for_run(data_dir, model_dir, schema, every=config.log_every,
                                                            model_config=config.model_config))
    logging.info("training %s: %d steps/epoch x %d epochs, batch %d, model_dir %s", config.model,
                 steps_per_epoch, config.epochs, config.batch_size, model_dir)
    model.fit(train_ds, epochs=config.epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
              verbose=verbose)
    if not chief:
        return {"steps_trained": int(model.optimizer.iterations.numpy())}
    return evaluate_model_dir(model_dir, data_dir, split="test",
                              extra={"steps_trained": int(model.optimizer.iterations.numpy())})


def evaluate_model_dir(model_dir: str, data_dir: str, split: str = "test", weights: str = "best",
                       extra: dict | None = None) -> dict:
    """Per-domain metrics of a trained model_dir on a split; writes metrics.json / metrics.md."""
    model, config, schema = restore_model(model_dir, weights)
    dataset = make_dataset(data_dir, split, config.eval_batch_size, shuffle=False, deterministic=True,
                           schema=schema)
    metrics = evaluate_dataset(model, dataset, schema)
    result = {"model": config.model, "seed": config.seed, "split": split, "weights": weights,
              "metrics": metrics, **(extra or {})}
    with tf.io.gfile.GFile(os.path.join(model_dir, "metrics.json"), "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
    with tf.io.gfile.GFile(os.path.join(model_dir, "metrics.md"), "w") as f:
        f.write(f"# {config.model} (seed {config.seed}) on {split}\n\n" + metrics_markdown(metrics))
    return result


# ---------------------------------------------------------------------------------------------
FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("data_dir", None, "Converted data (crocodile-convert output).")
    flags.DEFINE_string("model_dir", None, "Where checkpoints, logs, config and metrics go.")
    flags.DEFINE_string("model", "crocodile", f"Registered model: {', '.join(model_names())}.")
    flags.DEFINE_string("preset", "demo", f"Named config: {', '.join(sorted(config_lib.PRESETS))}.")
    flags.DEFINE_integer("epochs", None, "Maximum epochs.")
    flags.DEFINE_integer("batch_size", None, "Global batch size.")
    flags.DEFINE_float("learning_rate", None, "Adam learning rate (dense weights).")
    flags.DEFINE_float("embedding_learning_rate", None, "Learning rate of the embedding tables' "
                       "sparse optimizer (default: --learning_rate).")
    flags.DEFINE_enum("optimizer", None, list(config_lib.OPTIMIZERS), "Optimizer.")
    flags.DEFINE_enum("embedding_optimizer", None, list(config_lib.EMBEDDING_OPTIMIZERS),
                      "Sparse optimizer of the embedding tables with --optimizer=split.")
    flags.DEFINE_integer("num_embeddings", None, "Embedding tables M (multi-embedding models).")
    flags.DEFINE_float("cov_weight", None, "Weight alpha of the disentangling loss.")
    flags.DEFINE_string("gate", None, "Crocodile gate: mmoe, pg or peg.")
    flags.DEFINE_string("disentangle", None, "Disentangling loss: cov, ..., or none.")
    flags.DEFINE_integer("seed", None, "Random seed.")
    flags.DEFINE_bool("deterministic", None, "Deterministic ops and input order.")
    flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: rows / batch).")
    flags.DEFINE_integer("checkpoint_every", None, "Steps between checkpoints.")
    flags.DEFINE_integer("log_every", None, "Steps between log lines.")
    flags.DEFINE_bool("log_ia", None, "Record Information Abundance of embeddings and experts during "
                      "training (analysis Fig. 2; TensorBoard + model_dir/analysis/ia_log.json).")
    flags.DEFINE_enum("strategy", "default", list(distribute.STRATEGIES),
                      "tf.distribute strategy; multi_worker / parameter_server read the cluster from "
                      "TF_CONFIG (docs/distributed.md).")
    flags.DEFINE_integer("min_shard_bytes", distribute.DEFAULT_MIN_SHARD_BYTES,
                         "parameter_server: minimum bytes per embedding-table shard.")
    flags.DEFINE_string("params_override", "", "JSON object applied last, e.g. "
                        "'{\"model_config\": {\"tower_units\": [128]}}'.")


_TOP_LEVEL = ("epochs", "batch_size", "learning_rate", "embedding_learning_rate", "optimizer",
              "embedding_optimizer", "seed",
              "deterministic", "steps_per_epoch", "checkpoint_every", "log_every", "log_ia")
_MODEL_LEVEL = ("num_embeddings", "cov_weight", "gate")


def resolve_config(flag_values) -> config_lib.TrainConfig:
    """Preset, then the flags that were given, then --params_override."""
    config = config_lib.preset(flag_values.preset)
    if flag_values.model not in model_names():
        raise ValueError(f"--model={flag_values.model!r} is not registered; choose from {model_names()}.")
    top = {"model": flag_values.model}
    top.update({k: getattr(flag_values, k) for k in _TOP_LEVEL if getattr(flag_values, k) is not None})
    model = {k: getattr(flag_values, k) for k in _MODEL_LEVEL if getattr(flag_values, k) is not None}
    if flag_values.disentangle is not None:
        model["loss"] = "bce" if flag_values.disentangle == "none" else f"bce+{flag_values.disentangle}"
    try:
        config = config_lib.merge(config, {**top, "model_config": model})
        return config_lib.merge(config, config_lib.parse_override(flag_values.params_override))
    except (ValueError, TypeError) as e:
        raise app.UsageError(str(e)) from None


class _HideTensorFlowInfo(std_logging.Filter):
    """Drops INFO records logged from inside TensorFlow through absl (one "Sharding callback
    duration" line per checkpoint); warnings and our own INFO lines pass."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno > std_logging.INFO or f"{os.sep}tensorflow{os.sep}" not in record.pathname


def quiet_tensorflow_info() -> None:
    """Our progress lines at INFO, TensorFlow's own INFO chatter hidden."""
    logging.set_verbosity(logging.INFO)
    tf.get_logger().setLevel("WARNING")
    absl_logger = logging.get_absl_logger()
    if not any(isinstance(f, _HideTensorFlowInfo) for f in absl_logger.filters):
        absl_logger.addFilter(_HideTensorFlowInfo())


def main(argv) -> None:
    del argv
    quiet_tensorflow_info()
    for name in ("data_dir", "model_dir"):
        if not getattr(FLAGS, name):
            raise app.UsageError(f"--{name} is required.")
    if not tf.io.gfile.exists(os.path.join(FLAGS.data_dir, "schema.json")):
        raise app.UsageError(f"--data_dir={FLAGS.data_dir}: no schema.json there; run crocodile-convert first.")
    config = resolve_config(FLAGS)
    existing = os.path.join(FLAGS.model_dir, "config.json")
    if tf.io.gfile.exists(existing):
        previous = config_lib.TrainConfig.load(FLAGS.model_dir)
        if dataclasses.replace(previous, epochs=config.epochs) != config:
            raise app.UsageError(f"--model_dir={FLAGS.model_dir} holds a run with a different config "
                                 f"(see {existing}); use a new model_dir to train another config.")
    try:
        strategy = distribute.make_strategy(FLAGS.strategy, min_shard_bytes=FLAGS.min_shard_bytes)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    result = train(config, FLAGS.data_dir, FLAGS.model_dir, strategy=strategy)
    if "metrics" not in result:  # a non-chief worker: the chief writes the metrics
        return
    print(metrics_markdown(result["metrics"]))
    print(f"metrics: {os.path.join(FLAGS.model_dir, 'metrics.json')}")


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
