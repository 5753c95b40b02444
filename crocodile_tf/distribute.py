"""tf.distribute strategies for `crocodile-train --strategy=...`, configured from `TF_CONFIG`.

* `default`: no distribution (the default strategy: one device).
* `mirrored`: `tf.distribute.MirroredStrategy` over the local GPUs (or the CPU).
* `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`; every worker runs the same
  `crocodile-train` command with its own `TF_CONFIG` (`task.type` = "worker", index 0 is the
  chief). Gradients are all-reduced synchronously; every worker holds all weights.
* `parameter_server`: `tf.distribute.ParameterServerStrategy` (asynchronous training). The
  cluster has `ps` tasks holding the variables, `worker` tasks running the training steps (both
  started with `crocodile-server`), and one `chief` (the coordinator) running `crocodile-train`:
  it builds the model, dispatches steps to the workers, writes checkpoints and evaluates.
  Embedding tables (variables named "embeddings": `MultiEmbedding`, `PriorEmbedding`,
  `tf_keras.layers.Embedding`) are sharded along axis 0 over the parameter servers by
  `EmbeddingPartitioner` (a `MinSizePartitioner` restricted to embedding tables); every other
  variable stays whole, placed on one ps round-robin.

Checkpoints are strategy-independent: a `ShardedVariable` is saved as one full tensor (with
slice information), so a model trained sharded restores into an unsharded model (evaluation,
export) or into another strategy, and vice versa.

Optimizers: both "split" (TFRS `CompositeOptimizer`: a sparse optimizer on the tables + Adam)
and "adam" train under every strategy here (`tests/distribute/` runs "split" under
ParameterServerStrategy, with the sharded tables in the sparse group, and under
MultiWorkerMirroredStrategy).

Network: TensorFlow's gRPC server listens on 0.0.0.0:<port> (hard-coded in
`grpc_server_lib.cc`), whatever host the cluster spec names. On a shared host, run a local
cluster in a private network namespace (see docs/distributed.md) or behind a firewall.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from typing import Any

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "parameter_server")
DEFAULT_MIN_SHARD_BYTES = 256 << 10
_EMBEDDING_NAME = re.compile(r"(^|/)embeddings(:\d+)?$")


def tf_config() -> dict[str, Any]:
    """The parsed `TF_CONFIG` environment variable ({} when unset)."""
    text = os.environ.get("TF_CONFIG", "")
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster", {}), dict):
        raise ValueError(f"TF_CONFIG must be a JSON object with a 'cluster' object, got {text!r}.")
    return config


def _require_cluster(strategy: str, jobs: tuple[str, ...]) -> dict[str, Any]:
    config = tf_config()
    cluster = config.get("cluster", {})
    missing = [job for job in jobs if not cluster.get(job)]
    if missing or "task" not in config:
        raise ValueError(
            f"--strategy={strategy} needs TF_CONFIG with a 'task' and cluster jobs {list(jobs)}; "
            f"missing: {missing or ['task']} (TF_CONFIG={os.environ.get('TF_CONFIG', '')!r}). "
            "See docs/distributed.md.")
    return config


class EmbeddingPartitioner:
    """Shards embedding tables only: `MinSizePartitioner` for variables named "embeddings".

    `ParameterServerStrategy` calls its partitioner with a shape and dtype only; the variable's
    name reaches it through the variable creator that `ParameterServerStrategy` installs in
    `make_strategy` (see `_PartitionedPSStrategy`). Embedding tables get
    `MinSizePartitioner(min_shard_bytes, max_shards)` shards along axis 0 (so a table smaller than
    `min_shard_bytes` stays whole); every other variable (dense kernels, biases, gates, optimizer
    iteration counters) gets one partition.

    Args:
      min_shard_bytes: minimum bytes per shard.
      max_shards: maximum shards per table (default: the number of parameter servers).
    """

    def __init__(self, min_shard_bytes: int = DEFAULT_MIN_SHARD_BYTES, max_shards: int = 1):
        if min_shard_bytes < 1:
            raise ValueError(f"EmbeddingPartitioner: min_shard_bytes must be >= 1, got {min_shard_bytes}.")
        if max_shards < 1:
            raise ValueError(f"EmbeddingPartitioner: max_shards must be >= 1, got {max_shards}.")
        self.min_shard_bytes = int(min_shard_bytes)
        self.max_shards = int(max_shards)
        self._inner = tf.distribute.experimental.partitioners.MinSizePartitioner(
            min_shard_bytes=self.min_shard_bytes, max_shards=self.max_shards)
        self._local = threading.local()

    @contextlib.contextmanager
    def naming(self, name: str | None):
        previous = getattr(self._local, "name", None)
        self._local.name = name
        try:
            yield
        finally:
            self._local.name = previous

    def __call__(self, shape, dtype, axis=0):
        name = getattr(self._local, "name", None)
        if name is None or not _EMBEDDING_NAME.search(name):
            return [1] * len(shape)
        return self._inner(shape, dtype, axis)


class _PartitionedPSStrategy(tf.distribute.experimental.ParameterServerStrategy):
    """ParameterServerStrategy whose scope tells `EmbeddingPartitioner` each variable's name."""

    def __init__(self, cluster_resolver, partitioner: EmbeddingPartitioner):
        super().__init__(cluster_resolver, variable_partitioner=partitioner)
        self.embedding_partitioner = partitioner

    @contextlib.contextmanager
    def scope(self):
        def creator(next_creator, **kwargs):
            with self.embedding_partitioner.naming(kwargs.get("name")):
                return next_creator(**kwargs)

        with super().scope(), tf.variable_creator_scope(creator):
            yield


def make_strategy(name: str, *, min_shard_bytes: int = DEFAULT_MIN_SHARD_BYTES,
                  max_shards: int | None = None) -> tf.distribute.Strategy:
    """The strategy `name` (one of STRATEGIES), cluster from TF_CONFIG.

    Args:
      name: "default", "mirrored", "multi_worker" or "parameter_server".
      min_shard_bytes: parameter_server only: minimum bytes of an embedding-table shard.
      max_shards: parameter_server only: maximum shards per table (default: number of ps tasks).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _require_cluster(name, ("worker",))
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=tf.distribute.experimental.CommunicationImplementation.RING,
                timeout_seconds=120.0))
    if name == "parameter_server":
        config = _require_cluster(name, ("ps", "worker", "chief"))
        if config["task"].get("type") != "chief":
            raise ValueError(
                "--strategy=parameter_server runs crocodile-train on the chief only (TF_CONFIG "
                f"task {config['task']}); start ps and worker tasks with `crocodile-server`.")
        # Workers and parameter servers may come up after the chief; fail over to the caller's
        # retry logic instead of hanging in gRPC.
        os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        num_ps = len(config["cluster"]["ps"])
        partitioner = EmbeddingPartitioner(min_shard_bytes, max_shards or num_ps)
        return _PartitionedPSStrategy(resolver, partitioner)
    raise ValueError(f"Unknown strategy {name!r}; choose from {STRATEGIES}.")


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        return "parameter_server"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    return "default"


def is_parameter_server(strategy: tf.distribute.Strategy) -> bool:
    return strategy_name(strategy) == "parameter_server"


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True on the task that writes checkpoints, metrics and exports.

    The chief of a TF_CONFIG cluster (task "chief", or worker 0 when there is no chief task), or
    the only process of a single-machine run.
    """
    config = tf_config()
    task = config.get("task")
    if not task:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind == "chief":
        return True
    if kind == "worker":
        return index == 0 and "chief" not in config.get("cluster", {})
    return False


def training_input(strategy: tf.distribute.Strategy, dataset_fn):
    """What `model.fit` takes as training input under `strategy`.

    `dataset_fn(input_context)` builds the per-worker pipeline (sharded by the context). Under
    ParameterServerStrategy it is wrapped in a `DatasetCreator`, so each worker builds its own
    pipeline; otherwise the strategy distributes it (`distribute_datasets_from_function`).
    """
    if is_parameter_server(strategy):
        import tf_keras
        return tf_keras.utils.experimental.DatasetCreator(dataset_fn)
    return strategy.distribute_datasets_from_function(dataset_fn)


def sharded_variables(model) -> dict[str, list[str]]:
    """{variable name: devices of its shards} for the model's ShardedVariables (inspection).

    Keras lists the shards of a partitioned weight as separate variables (`model.variables`);
    the ShardedVariable itself is the layer attribute holding it.
    """
    from tensorflow.python.distribute import sharded_variable

    out = {}
    for layer in model._flatten_layers():  # noqa: SLF001 (every nested layer, once)
        for value in vars(layer).values():
            if isinstance(value, sharded_variable.ShardedVariable):
                out[f"{layer.name}/{value.name}"] = [v.device for v in value.variables]
    return out
