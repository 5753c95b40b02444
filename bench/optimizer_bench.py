"""Adam vs the split optimizer (a sparse optimizer on embedding tables + Adam on dense weights).

Speed: steady-state training examples/s of Crocodile (M = 3) on the reference configuration
(40 categorical fields, vocabularies 2..200,000, plus the domain; dim 16; experts [256, 128];
towers [64]; batch 1024), in memory so the input pipeline is out of the picture.
Quality: test AUC / gAUC of the same model trained with each optimizer on the demo data
(synthetic KuaiRand-1K-shaped, converted), same seed and epochs.

Usage: python bench/optimizer_bench.py [--steps 60] [--data_dir DIR] [--out bench/results/optimizer_bench.json]
Without --data_dir, 300k synthetic raw rows are generated and converted into a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import crocodile_tf  # noqa: F401
import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf import config as config_lib
from crocodile_tf.features import make_schema
from crocodile_tf.models import ModelConfig, build_model
from crocodile_tf.optimizers import make_optimizer

REFERENCE = ModelConfig(num_embeddings=3, expert_units=(256, 128), tower_units=(64,), cov_weight=1e-4)


def reference_problem(rows: int, seed: int = 0):
    sizes = [int(v) for v in np.geomspace(2, 200_000, 40).round()]
    vocab = {"user_id": sizes[-1], "item_id": sizes[-2], **{f"f{i}": v for i, v in enumerate(sizes[:-2])}}
    schema = make_schema(vocab, num_domains=5, embedding_dim=16)
    rng = np.random.default_rng(seed)
    features = {f.name: rng.integers(0, f.vocab_size, rows).astype(np.int64) for f in schema.fields}
    labels = rng.integers(0, 2, rows).astype(np.float32)
    return schema, features, labels


class Timer(tf_keras.callbacks.Callback):
    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.start, self.steps = warmup, None, 0

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.warmup:
            self.start = time.perf_counter()
        elif batch + 1 > self.warmup:
            self.steps += 1

    def seconds_per_step(self) -> float:
        return (time.perf_counter() - self.start) / self.steps


VARIANTS = {"adam": dict(optimizer="adam"),
            "split_lazy_adam": dict(optimizer="split", embedding_optimizer="lazy_adam"),
            "split_adagrad": dict(optimizer="split", embedding_optimizer="adagrad",
                                  embedding_learning_rate=0.05)}


def speed(variant: dict, steps: int, batch: int = 1024, warmup: int = 10) -> float:
    tf_keras.backend.clear_session()
    tf_keras.utils.set_random_seed(0)
    schema, features, labels = reference_problem(batch * 16)
    model = build_model("crocodile", schema, REFERENCE)
    model.compile(make_optimizer(variant["optimizer"], model, 1e-3,
                                 variant.get("embedding_learning_rate", 1e-3),
                                 variant.get("embedding_optimizer", "lazy_adam")))
    ds = tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch).repeat().prefetch(4)
    timer = Timer(warmup)
    model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer])
    return batch / timer.seconds_per_step()


def quality(name: str, variant: dict, data_dir: str, workdir: str) -> dict:
    from crocodile_tf.train import train
    tf_keras.backend.clear_session()
    config = config_lib.preset("demo").replace(seed=0, **variant)
    started = time.time()
    result = train(config, data_dir, os.path.join(workdir, name), verbose=0)
    overall = result["metrics"]["overall"]
    return {"test_auc": overall["auc"], "test_gauc": overall["gauc"], "train_seconds": time.time() - started}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "optimizer_bench.json"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="optimizer_bench_")
    data_dir = args.data_dir
    if data_dir is None:
        from crocodile_tf.pipelines import make_source, synth_kuairand
        from crocodile_tf.pipelines.conversion import ConvertOptions, convert
        synth_kuairand(os.path.join(workdir, "raw"), 300_000, seed=0)
        data_dir = os.path.join(workdir, "data")
        convert(make_source("kuairand1k", input_dir=os.path.join(workdir, "raw")),
                ConvertOptions(output_dir=data_dir, progress=False))
    result = {"machine": platform.machine(), "cpus": os.cpu_count(), "steps": args.steps,
              "reference_config": REFERENCE.to_dict(), "optimizers": {}}
    for name, variant in VARIANTS.items():
        entry = {"examples_per_second": speed(variant, args.steps), **variant}
        entry.update(quality(name, variant, data_dir, workdir))
        result["optimizers"][name] = entry
        print(f"{name:16s} {entry['examples_per_second']:8.0f} ex/s (reference config) | demo data: "
              f"test AUC {entry['test_auc']:.4f} gAUC {entry['test_gauc']:.4f} in {entry['train_seconds']:.0f} s",
              flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
