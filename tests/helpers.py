"""Shared test utilities: fresh-process SavedModel reloads and planted-data training."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

import crocodile_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before tensorflow)
import tf_keras

from scipy.stats import rankdata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_RELOAD_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import crocodile_tf  # registers the serializable layers
    import tf_keras
    model = tf_keras.models.load_model(sys.argv[1])
    features = dict(np.load(sys.argv[2]))
    np.save(sys.argv[3], model.predict(features, batch_size=len(next(iter(features.values()))),
                                       verbose=0))
""")


def auc_reference(labels, scores) -> float:
    """Mann-Whitney AUC with average ranks for ties (independent of the library's metrics)."""
    labels = np.asarray(labels).reshape(-1)
    ranks = rankdata(np.asarray(scores).reshape(-1))
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def predict_in_fresh_process(model_path: str, features: dict[str, np.ndarray], workdir: str) -> np.ndarray:
    """Loads the SavedModel at `model_path` in a new Python process and returns its predictions."""
    inputs = os.path.join(workdir, "features.npz")
    outputs = os.path.join(workdir, "predictions.npy")
    np.savez(inputs, **features)
    result = subprocess.run([sys.executable, "-c", _RELOAD_SCRIPT, model_path, inputs, outputs],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"reload in a fresh process failed:\n{result.stderr[-4000:]}")
    return np.load(outputs)


def assert_savedmodel_parity(test, model: tf_keras.Model, features: dict[str, np.ndarray],
                             workdir: str, atol: float = 1e-6) -> None:
    """Saves `model`, reloads it in a fresh process, and compares predictions."""
    path = os.path.join(workdir, "saved_model")
    model.save(path, include_optimizer=False)
    expected = model.predict(features, batch_size=len(next(iter(features.values()))), verbose=0)
    reloaded = predict_in_fresh_process(path, features, workdir)
    test.assertAllClose(expected, reloaded, atol=atol, rtol=0)


def write_planted_tfrecords(problem, out_dir: str, fractions=(0.8, 0.1, 0.1), shards: int = 2) -> str:
    """Writes a PlantedProblem as a converted data dir (schema.json, stats.json, GZIP shards).

    Independent of the converters (plain tf.train.Example with the packed `ids` feature), so
    training tests do not depend on them and the reader is checked against a second writer.
    """
    import json

    import tensorflow as tf

    n = len(problem.labels)
    bounds = np.cumsum([0] + [int(round(f * n)) for f in fractions])
    bounds[-1] = n
    written = {}
    for split, (lo, hi) in zip(("train", "val", "test"), zip(bounds[:-1], bounds[1:])):
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        writers = [tf.io.TFRecordWriter(os.path.join(out_dir, split, f"part-{i:05d}-of-{shards:05d}.tfrecord.gz"),
                                        options="GZIP") for i in range(shards)]
        for row in range(lo, hi):
            ids = [int(problem.features[name][row]) for name in problem.schema.field_names]
            feature = {"ids": tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}
            feature[problem.schema.label] = tf.train.Feature(
                float_list=tf.train.FloatList(value=[float(problem.labels[row])]))
            writers[row % shards].write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        for w in writers:
            w.close()
        written[split] = {"rows": int(hi - lo)}
    problem.schema.save(os.path.join(out_dir, "schema.json"))
    with open(os.path.join(out_dir, "stats.json"), "w") as f:
        json.dump({"written": written}, f)
    return out_dir
