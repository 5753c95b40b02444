"""Training configuration: `TrainConfig` with named presets, resolved once and saved as JSON.

Resolution order (later wins): the preset, then flags given explicitly on the command line,
then `--params_override` (a JSON object, nested like `TrainConfig.to_dict()`, e.g.
`{"model_config": {"gate": "pg"}, "batch_size": 512}`). The resolved config is written to
`<model_dir>/config.json` and read back by evaluation, export and resumed runs.

Presets (SPEC §9; none of these values was tuned on test data):
* `demo` — the `make demo` run: reference widths, 2 epochs over the ~260k training rows;
  cov_weight 1e-2, the best validation AUC of {1e-4, 1e-3, 1e-2, 1e-1} on the demo data
  (bench/cov_weight_sweep.py, one seed; the four lie within 0.003 AUC of each other).
* `kuairand1k` — SPEC §9's reference configuration for KuaiRand-1K (cov_weight 1e-4, the
  paper's scale; not tuned on real data here).
* `aliccp` — the same widths for Ali-CCP, batch 2048 for its 85M rows.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf

from crocodile_tf.models.config import ModelConfig, from_checked_dict

OPTIMIZERS = ("adam", "split")
EMBEDDING_OPTIMIZERS = ("lazy_adam", "adagrad")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data and output directories.

    Attributes:
      model: registry name of the model.
      model_config: the model's hyper-parameters.
      batch_size: global batch size.
      epochs: maximum passes over the training split.
      learning_rate: Adam learning rate (dense weights; all weights with optimizer="adam").
      optimizer: "split" (a sparse optimizer for embedding tables + Adam for dense weights, TFRS
        CompositeOptimizer) or "adam" (one Adam for everything).
      embedding_optimizer: the sparse optimizer of "split": "lazy_adam" or "adagrad".
      embedding_learning_rate: its learning rate (None = learning_rate).
      checkpoint_every: steps between checkpoints (one is also written at each epoch end).
      log_every: steps between log lines / TensorBoard scalars.
      early_stopping_patience: epochs without validation-AUC improvement before stopping.
      seed: seed of initialisation, shuffling and sampling.
      deterministic: deterministic ops and input order (identical metrics for identical seeds).
      steps_per_epoch: None = training rows / batch_size, from the converter's stats.json.
      eval_batch_size: batch size of validation and test passes.
      log_ia: record Information Abundance during training (crocodile_tf.analysis).
    """

    model: str = "crocodile"
    model_config: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    batch_size: int = 1024
    epochs: int = 2
    learning_rate: float = 1e-3
    optimizer: str = "split"
    embedding_optimizer: str = "lazy_adam"
    embedding_learning_rate: float | None = None
    checkpoint_every: int = 500
    log_every: int = 100
    early_stopping_patience: int = 1
    seed: int = 0
    deterministic: bool = False
    steps_per_epoch: int | None = None
    eval_batch_size: int = 8192
    log_ia: bool = False

    def __post_init__(self):
        if isinstance(self.model_config, dict):
            object.__setattr__(self, "model_config", ModelConfig.from_dict(self.model_config))
        checks = {
            "batch_size": self.batch_size >= 1, "epochs": self.epochs >= 1,
            "learning_rate": self.learning_rate > 0,
            "embedding_learning_rate": self.embedding_learning_rate is None or self.embedding_learning_rate > 0,
            "checkpoint_every": self.checkpoint_every >= 1, "log_every": self.log_every >= 1,
            "early_stopping_patience": self.early_stopping_patience >= 0,
            "eval_batch_size": self.eval_batch_size >= 1,
            "steps_per_epoch": self.steps_per_epoch is None or self.steps_per_epoch >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TrainConfig: bad {name}={getattr(self, name)!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if self.embedding_optimizer not in EMBEDDING_OPTIMIZERS:
            raise ValueError(f"TrainConfig: embedding_optimizer must be one of {EMBEDDING_OPTIMIZERS}, "
                             f"got {self.embedding_optimizer!r}.")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["model_config"] = self.model_config.to_dict()
        return out

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "TrainConfig":
        return from_checked_dict(cls, config)

    def save(self, model_dir: str) -> str:
        tf.io.gfile.makedirs(model_dir)
        path = os.path.join(model_dir, "config.json")
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str) -> "TrainConfig":
        path = os.path.join(model_dir, "config.json")
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"No config.json in {model_dir}: is it a crocodile-train model_dir?")
        with tf.io.gfile.GFile(path) as f:
            return cls.from_dict(json.load(f))


PRESETS: dict[str, TrainConfig] = {
    "demo": TrainConfig(epochs=2, batch_size=1024, checkpoint_every=200, log_every=50,
                        model_config=ModelConfig(cov_weight=1e-2)),
    "kuairand1k": TrainConfig(epochs=3, batch_size=1024),
    "aliccp": TrainConfig(epochs=2, batch_size=2048, checkpoint_every=2000, log_every=500),
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; presets: {sorted(PRESETS)}.")
    return PRESETS[name]


def merge(config: TrainConfig, override: dict[str, Any]) -> TrainConfig:
    """`config` with the (possibly nested) `override` applied; unknown keys are errors."""
    base = config.to_dict()
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"params_override: unknown key {key!r}; keys: {sorted(base)}.")
        if key == "model_config":
            if not isinstance(value, dict):
                raise ValueError("params_override: model_config must be a JSON object.")
            unknown = set(value) - set(base["model_config"])
            if unknown:
                raise ValueError(f"params_override: unknown model_config keys {sorted(unknown)}; "
                                 f"keys: {sorted(base['model_config'])}.")
            base["model_config"] = {**base["model_config"], **value}
        else:
            base[key] = value
    return TrainConfig.from_dict(base)


def parse_override(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"--params_override is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError("--params_override must be a JSON object.")
    return value
