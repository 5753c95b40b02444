"""`InformationAbundanceLogger`: IA of embeddings and experts during training (Fig. 2 dynamics).

Every `every` steps (and at each epoch end) it computes, on the current weights:

* ``embedding/<field>/t<p>/{all,top,bottom}``: IA of table p's rows of `field` (ids seen in the
  exposure counts; top/bottom = most/least exposed quintile), and ``embedding/<field>/mean/...``
  the mean over tables;
* ``experts/e<p>/{overall,<domain>}``: IA of expert p's outputs on a fixed probe batch, over all
  its rows and over each domain's rows;

and writes them as TensorBoard scalars (``ia/<name>``) and to a JSON log that
`crocodile-analyze` plots (Fig. 2). Models without experts or embedding tables log what they
have. `for_run` builds one for a `crocodile-train` run (hook it into `train.train` with one line;
see the README).
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from crocodile_tf.analysis.probe import embedding_tables, expert_owners, find_expert_layer
from crocodile_tf.analysis.spectrum import ia_by_frequency, information_abundance
from crocodile_tf.features import FeatureSchema

IA_LOG = os.path.join("analysis", "ia_log.json")


class InformationAbundanceLogger(tf_keras.callbacks.Callback):
    """Records IA of selected embeddings and the experts during training.

    Args:
      probe_features: a fixed batch {field: ids [N]} the experts are evaluated on.
      schema: the feature schema (domain field and names).
      fields: embedding fields to follow (default: the item and user id fields).
      counts: {field: exposures [vocab]}, or {field: (exposures [vocab], per-domain [S, vocab])}
        so that domain-owned tables are grouped by their own domain's exposures, for the
        frequency groups (None: only "all" rows).
      every: steps between records (0: epoch ends only).
      log_dir: TensorBoard directory (None: no TensorBoard).
      json_path: JSON log (None: kept in memory only, in `self.records`).
      model_config: the run's ModelConfig (to name domain-owned experts).
    """

    def __init__(self, probe_features: dict[str, np.ndarray], schema: FeatureSchema,
                 fields: Sequence[str] | None = None, counts: dict[str, np.ndarray] | None = None,
                 every: int = 100, log_dir: str | None = None, json_path: str | None = None,
                 model_config=None):
        super().__init__()
        if every < 0:
            raise ValueError(f"InformationAbundanceLogger: every must be >= 0, got {every}.")
        self.probe_features = {k: np.asarray(v) for k, v in probe_features.items()}
        self.schema = schema
        self.fields = tuple(fields or (schema.item_field, schema.user_field))
        for field in self.fields:
            schema.field(field)  # ValueError naming the unknown field
        self.counts = counts or {}
        self.every = int(every)
        self.log_dir = log_dir
        self.json_path = json_path
        self.model_config = model_config
        self.records: list[dict] = []
        if json_path and tf.io.gfile.exists(json_path):  # a resumed run keeps its history
            with tf.io.gfile.GFile(json_path) as f:
                self.records = json.load(f).get("records", [])
        self._writer = None
        self._experts = None
        self._owners = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        layer = find_expert_layer(self.model)
        if layer is not None:
            self._experts = tf_keras.Model(self.model.input, layer.output)
            try:
                self._owners = expert_owners(self.model, int(layer.output.shape[1]), self.model_config)
            except ValueError:
                self._owners = None
        if self.log_dir:
            self._writer = tf.summary.create_file_writer(self.log_dir)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if self.every and step % self.every == 0:
            self.record(step)

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if not self.records or self.records[-1]["step"] != step:
            self.record(step)

    def values(self) -> dict[str, float]:
        """The IA values on the current weights."""
        out: dict[str, float] = {}
        for field in self.fields:
            tables = embedding_tables(self.model, field, self.model_config)
            counts_entry = self.counts.get(field)
            per_table = []
            for table in tables:
                counts = counts_entry
                if isinstance(counts_entry, tuple):  # (total, per-domain): owned tables use their domain's
                    counts = counts_entry[0] if table.owner is None else counts_entry[1][table.owner]
                if counts is not None:
                    groups = ia_by_frequency(table.matrix, counts)
                    entry = {k: groups[k] for k in ("all", "top", "bottom")}
                else:
                    entry = {"all": information_abundance(table.matrix)}
                per_table.append(entry)
                for key, value in entry.items():
                    out[f"embedding/{field}/t{table.index}/{key}"] = value
            for key in (per_table[0] if per_table else {}):
                out[f"embedding/{field}/mean/{key}"] = float(np.nanmean([e[key] for e in per_table]))
        if self._experts is not None:
            outputs = self._experts(self.probe_features, training=False).numpy()
            domains = self.probe_features[self.schema.domain_field].reshape(-1)
            for p in range(outputs.shape[1]):
                out[f"experts/e{p}/overall"] = information_abundance(outputs[:, p])
                for s, name in enumerate(self.schema.domains):
                    rows = outputs[domains == s, p]
                    if len(rows):
                        out[f"experts/e{p}/{name}"] = information_abundance(rows)
        return out

    def record(self, step: int) -> dict[str, float]:
        values = self.values()
        self.records.append({"step": step, "epoch": self._epoch, "values": values})
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for name, value in values.items():
                    tf.summary.scalar(f"ia/{name}", value)
            self._writer.flush()
        if self.json_path:
            tf.io.gfile.makedirs(os.path.dirname(self.json_path))
            payload = {"model": self.model.name, "domains": list(self.schema.domains),
                       "expert_owners": None if self._owners is None else list(self._owners),
                       "records": self.records}
            with tf.io.gfile.GFile(self.json_path, "w") as f:
                f.write(json.dumps(payload, indent=1) + "\n")
        return values

    @classmethod
    def for_run(cls, data_dir: str, model_dir: str, schema: FeatureSchema, every: int = 100,
                probe_rows: int = 4096, count_rows: int = 500_000, model_config=None,
                fields: Sequence[str] | None = None) -> "InformationAbundanceLogger":
        """A logger for a `crocodile-train` run: probe batch from the val split, exposure counts
        from the first `count_rows` training rows; logs to model_dir/logs/ia and
        model_dir/analysis/ia_log.json."""
        from crocodile_tf.analysis.probe import id_counts
        from crocodile_tf.pipelines.input import make_dataset

        probe = make_dataset(data_dir, "val", probe_rows, shuffle=False, deterministic=True,
                             schema=schema)
        features = next(iter(probe))[0]
        features = {k: v.numpy() for k, v in features.items()}
        fields = tuple(fields or (schema.item_field, schema.user_field))
        train_rows = make_dataset(data_dir, "train", 8192, shuffle=False, deterministic=True,
                                  schema=schema)
        counts = {}
        for field in fields:
            counts[field] = id_counts(train_rows, field, schema.field(field).vocab_size,
                                      schema.domain_field, schema.num_domains, max_rows=count_rows)
        logging.info("IA logger: probe of %d val rows, exposure counts over <= %d train rows",
                     len(features[schema.domain_field]), count_rows)
        return cls(features, schema, fields=fields, counts=counts, every=every,
                   log_dir=os.path.join(model_dir, "logs", "ia"),
                   json_path=os.path.join(model_dir, IA_LOG), model_config=model_config)


def load_ia_log(model_dir: str) -> dict | None:
    """The IA log of a run (None if it was trained without the logger)."""
    path = os.path.join(model_dir, IA_LOG)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
