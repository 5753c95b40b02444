"""Keras callbacks of the training binary: exact per-domain validation metrics, step
checkpoints that resume mid-epoch, and plain log lines when stdout is not a terminal."""

from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from crocodile_tf.features import FeatureSchema
from crocodile_tf.metrics import domain_metrics


def inference_function(model: tf_keras.Model):
    """model(features, training=False) as one tf.function (the last, smaller batch included)."""
    return tf.function(lambda features: model(features, training=False), reduce_retracing=True)


def predict_dataset(model: tf_keras.Model, dataset: tf.data.Dataset, schema: FeatureSchema,
                    predict=None):
    """Runs `model` over `dataset`; returns (probabilities, labels, domains, users) as arrays."""
    predict = predict or inference_function(model)
    outputs = {"p": [], "y": [], "d": [], "u": []}
    for features, labels in dataset:
        outputs["p"].append(predict(features).numpy().reshape(-1))
        outputs["y"].append(labels.numpy().reshape(-1))
        outputs["d"].append(features[schema.domain_field].numpy())
        outputs["u"].append(features[schema.user_field].numpy())
    if not outputs["p"]:
        raise ValueError("predict_dataset: the dataset is empty.")
    return tuple(np.concatenate(outputs[k]) for k in "pydu")


def evaluate_dataset(model, dataset, schema: FeatureSchema, predict=None) -> dict:
    """`domain_metrics` of the model on a dataset, keyed by "overall" and the domain names."""
    p, y, d, u = predict_dataset(model, dataset, schema, predict)
    return domain_metrics(y, p, d, u, schema.domains)


class DomainValidation(tf_keras.callbacks.Callback):
    """At each epoch end: exact AUC / gAUC on the validation set, overall and per domain.

    Adds `val_auc`, `val_gauc` and `val_auc/<domain>`, `val_gauc/<domain>` to the epoch logs, so
    EarlyStopping, ModelCheckpoint and TensorBoard (placed after this callback) see them.
    """

    def __init__(self, dataset: tf.data.Dataset, schema: FeatureSchema):
        super().__init__()
        self.dataset = dataset
        self.schema = schema
        self.history: list[dict] = []
        self._predict = None

    def on_epoch_end(self, epoch, logs=None):
        self._predict = self._predict or inference_function(self.model)
        metrics = evaluate_dataset(self.model, self.dataset, self.schema, self._predict)
        self.history.append(metrics)
        if logs is None:
            return
        logs["val_auc"] = metrics["overall"]["auc"]
        logs["val_gauc"] = metrics["overall"]["gauc"]
        for name in self.schema.domains:
            for key in ("auc", "gauc"):
                if not math.isnan(metrics[name][key]):
                    logs[f"val_{key}/{name}"] = metrics[name][key]
        logging.info("epoch %d validation: AUC %.4f gAUC %.4f | %s", epoch + 1, logs["val_auc"],
                     logs["val_gauc"], " ".join(f"{n}:{metrics[n]['auc']:.4f}" for n in self.schema.domains))


class StepBackup(tf_keras.callbacks.BackupAndRestore):
    """BackupAndRestore that saves every `save_freq` steps *and* at each epoch end.

    Keras' own callback saves either per epoch or per N steps; with per-step saving alone the
    end of an epoch could go unsaved. Restoring resumes at the step after the last save, with the
    optimizer state and step counter. The backup is kept after training so that rerunning a
    finished command is a no-op rather than a retrain.
    """

    def __init__(self, backup_dir: str, save_freq: int):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)

    def on_epoch_end(self, epoch, logs=None):
        # batch = steps - 1 tells the restore logic that the epoch is complete.
        self._training_state.back_up(epoch=epoch, batch=self.params["steps"] - 1)
        self._batches_count = 0


class StepLogger(tf_keras.callbacks.Callback):
    """One log line every `every` steps (for logs and non-terminal output; no progress bar)."""

    def __init__(self, every: int):
        super().__init__()
        self.every = every
        self._start = None
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        if self._start is None:
            self._start, self._seen = time.time(), 0
        self._seen += 1
        if (batch + 1) % self.every == 0:
            step = int(self.model.optimizer.iterations.numpy())
            rate = self._seen / max(time.time() - self._start, 1e-9)
            values = " ".join(f"{k}={float(v):.4f}" for k, v in (logs or {}).items())
            logging.info("step %d (epoch step %d): %s | %.1f steps/s", step, batch + 1, values, rate)
