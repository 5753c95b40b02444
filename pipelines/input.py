"""tf.data input over the converted TFRecords: `make_dataset`.

Shards are interleaved, sharded per worker through `tf.distribute.InputContext`, batched before
parsing (`tf.io.parse_example` on whole batches), and prefetched with AUTOTUNE.

Importing tensorflow_io registers the s3://, hdfs:// and az:// file systems with tf.io.gfile, so
`data_dir` may be a cloud URI. Those schemes are untested here (no cloud credentials in CI); only
local paths are exercised by the tests.
"""

from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf

try:  # Registers the cloud file systems (s3, hdfs, az) with tf.io.gfile as a side effect.
    import tensorflow_io  # noqa: F401
except ImportError:  # pragma: no cover - tensorflow-io is an install requirement
    tensorflow_io = None

from crocodile_tf.features import FeatureSchema

SPLITS = ("train", "val", "test")


def shard_files(data_dir: str, split: str) -> list[str]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    pattern = os.path.join(data_dir, split, "part-*.tfrecord.gz")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No TFRecord shards match {pattern}; convert the data first "
                                "(crocodile-convert).")
    return files


def make_dataset(data_dir: str, split: str, batch_size: int,
                 input_context: tf.distribute.InputContext | None = None, *,
                 shuffle: bool | None = None, repeat: bool = False, deterministic: bool = False,
                 domains: Sequence[str | int] | None = None, seed: int | None = None,
                 shuffle_buffer: int = 100_000, drop_remainder: bool = False,
                 schema: FeatureSchema | None = None) -> tf.data.Dataset:
    """(features, label) batches of a converted split.

    Args:
      data_dir: converter output directory (holds schema.json and <split>/part-*.tfrecord.gz).
      split: "train", "val" or "test".
      batch_size: the global batch size; with `input_context`, each input pipeline batches
        `input_context.get_per_replica_batch_size(batch_size)`.
      input_context: from `strategy.distribute_datasets_from_function`; files (or, with fewer
        files than pipelines, records) are sharded by its pipeline id.
      shuffle: shuffle shard order and records; default True for "train" only.
      repeat: repeat forever.
      deterministic: fixed element order (given `seed`), for reproducible runs and tests.
      domains: keep only these domains (raw domain values as in schema.domains, or domain ids);
        the per-domain feeds of the fault-tolerance setup.
      seed: shuffle seed.
      shuffle_buffer: records in the shuffle buffer.
      drop_remainder: drop the last partial batch.
      schema: the schema (default: read from data_dir).

    Returns:
      A dataset of ({field: int64 [B]} for exactly schema.field_names, label float32 [B]).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    schema = schema or FeatureSchema.load(data_dir)
    files = shard_files(data_dir, split)
    shuffle = (split == "train") if shuffle is None else shuffle
    if deterministic and shuffle and seed is None:
        seed = 0
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    domain_ids = None
    if domains is not None:
        domain_ids = [_domain_id(schema, d) for d in domains]

    ds = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) >= input_context.num_input_pipelines:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        else:
            shard_records = True
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                       cycle_length=min(len(files), 8), block_length=64,
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if shard_records:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    spec = schema.feature_spec()

    def parse(serialized):
        return schema.unpack(tf.io.parse_example(serialized, spec))

    if domain_ids is None:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    else:
        keep = tf.constant(domain_ids, tf.int64)
        domain_field = schema.domain_field

        def select(features, y):
            mask = tf.reduce_any(tf.equal(features[domain_field][:, None], keep[None, :]), axis=1)
            return {k: tf.boolean_mask(v, mask) for k, v in features.items()}, tf.boolean_mask(y, mask)

        # Parse in large batches, drop other domains, then re-batch to batch_size.
        ds = ds.batch(max(batch_size, 1024))
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        ds = ds.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        ds = ds.rebatch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = deterministic
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def _domain_id(schema: FeatureSchema, domain) -> int:
    if isinstance(domain, str):
        if domain not in schema.domains:
            raise ValueError(f"Unknown domain {domain!r}; the schema's domains are "
                             f"{list(schema.domains)}.")
        return schema.domains.index(domain)
    d = int(domain)
    if not 0 <= d < schema.num_domains:
        raise ValueError(f"Domain id {d} outside [0, {schema.num_domains}); the schema's domains "
                         f"are {list(schema.domains)}.")
    return d
