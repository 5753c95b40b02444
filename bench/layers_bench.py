"""Layout choices of the foundation layers, measured (forward + backward, one train step).

1. Multi-embedding lookup, M tables over F fields:
   - `per_field`: one tf_keras Embedding per field per table (F x M gathers, F x M variables);
   - `per_table`: one variable per table, one gather per table over offset ids (M gathers);
   - `wide` (MultiEmbedding): the M tables as column blocks of one variable, one gather.
2. PeG gate: `own_domain` (the own domain's logits from one block matmul, then softmax +
   mixture: what the layer does) vs `all_domains` (softmax + mixture for all S domains, then
   select).
3. Expert bank (MMoE reference: 4 experts [256, 128] on a shared 656-wide input):
   `expert_major` (ExpertBank: one GEMM per layer in [K, B, n] layout) vs `einsum` (one
   `bki,kio->bko` einsum per layer).

Usage: python bench/layers_bench.py [--batch 1024] [--steps 50] [--out bench/results/layers_bench.json]
Reference shapes: KuaiRand-like, 41 fields with vocabularies 2..200,000, dim 16, M = 3, S = 5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import crocodile_tf  # noqa: F401
import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.layers import ExpertBank, MultiEmbedding, PriorElementwiseGate
from crocodile_tf.layers.gates import own_domain


def vocab_sizes(num_fields: int = 41) -> list[int]:
    return [int(v) for v in np.geomspace(2, 200_000, num_fields).round()]


class PerFieldEmbedding(tf_keras.layers.Layer):
    def __init__(self, sizes, dim, tables):
        super().__init__()
        self.layers_ = [[tf_keras.layers.Embedding(v, dim) for v in sizes] for _ in range(tables)]

    def call(self, ids):
        return [tf.concat([emb(ids[:, f]) for f, emb in enumerate(table)], axis=1) for table in self.layers_]


class PerTableEmbedding(tf_keras.layers.Layer):
    def __init__(self, sizes, dim, tables):
        super().__init__()
        self.offsets = tf.constant(np.r_[0, np.cumsum(sizes)[:-1]], tf.int64)
        self.tables = [self.add_weight(name=f"t{p}", shape=(sum(sizes), dim), initializer="uniform")
                       for p in range(tables)]
        self.width = len(sizes) * dim

    def call(self, inputs):
        ids = tf.stack([inputs[f"f{i}"] for i in range(len(inputs))], axis=1) + self.offsets
        return [tf.reshape(tf.gather(t, ids), [-1, self.width]) for t in self.tables]


def time_step(layer_fn, variables_fn, inputs, steps):
    """Median seconds of a compiled forward+backward step."""
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = layer_fn(inputs)
            loss = tf.add_n([tf.reduce_sum(o * o) for o in tf.nest.flatten(out)])
        grads = tape.gradient(loss, variables_fn())
        # Touch every gradient without densifying sparse ones (as a sparse optimizer would).
        return [(g.values if isinstance(g, tf.IndexedSlices) else g)[:1] for g in grads]
    step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_embeddings(batch, steps, dim=16, tables=3):
    sizes = vocab_sizes()
    rng = np.random.default_rng(0)
    ids = np.stack([rng.integers(0, v, batch) for v in sizes], axis=1).astype(np.int64)
    names = [f"f{i}" for i in range(len(sizes))]
    ids_dict = {n: tf.constant(ids[:, i]) for i, n in enumerate(names)}
    ids_t = tf.constant(ids)
    per_field = PerFieldEmbedding(sizes, dim, tables)
    per_table = PerTableEmbedding(sizes, dim, tables)
    wide = MultiEmbedding(names, sizes, dim, num_tables=tables)
    per_field(ids_t), per_table(ids_dict), wide(ids_dict)
    return {
        "per_field_ms": 1e3 * time_step(per_field, lambda: per_field.trainable_variables, ids_t, steps),
        "per_table_ms": 1e3 * time_step(per_table, lambda: per_table.trainable_variables, ids_dict, steps),
        "wide_ms": 1e3 * time_step(wide, lambda: wide.trainable_variables, ids_dict, steps),
        "fields": len(sizes), "tables": tables, "dim": dim,
    }


def bench_gate(batch, steps, experts=3, dim=128, domains=5, prior_width=48):
    rng = np.random.default_rng(1)
    prior = tf.constant(rng.normal(size=(batch, prior_width)).astype(np.float32))
    outputs = tf.constant(rng.normal(size=(batch, experts, dim)).astype(np.float32))
    domain = tf.constant(rng.integers(0, domains, batch))
    gate = PriorElementwiseGate(experts, domains)
    gate([prior, outputs, domain])

    def all_domains(_):
        logits = tf.reshape(tf.matmul(prior, gate.kernel) + gate.bias, [-1, domains, experts, dim])
        weights = tf.nn.softmax(logits, axis=2)
        mixtures = tf.reduce_sum(weights * outputs[:, None], axis=2)  # [B, S, d]
        return own_domain(mixtures, domain)

    return {
        "own_domain_ms": 1e3 * time_step(lambda _: gate([prior, outputs, domain]),
                                         lambda: gate.trainable_variables, None, steps),
        "all_domains_ms": 1e3 * time_step(all_domains, lambda: gate.trainable_variables, None, steps),
        "experts": experts, "dim": dim, "domains": domains,
    }


def bench_expert_bank(batch, steps, experts=4, width=656, units=(256, 128)):
    x = tf.constant(np.random.default_rng(2).normal(size=(batch, width)).astype(np.float32))
    bank = ExpertBank(experts, units)
    bank(x)

    def einsum(_):
        h = x
        for i, (kernel, bias) in enumerate(zip(bank.kernels, bank.biases)):
            h = tf.nn.relu(tf.einsum("bi,kio->bko" if i == 0 else "bki,kio->bko", h, kernel) + bias)
        return h

    np.testing.assert_allclose(einsum(None), bank(x), rtol=1e-4, atol=1e-5)
    return {"expert_major_ms": 1e3 * time_step(lambda _: bank(x), lambda: bank.trainable_variables, None, steps),
            "einsum_ms": 1e3 * time_step(einsum, lambda: bank.trainable_variables, None, steps),
            "experts": experts, "input_width": width, "units": list(units)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "layers_bench.json"))
    args = parser.parse_args()
    result = {"batch": args.batch, "steps": args.steps, "machine": platform.machine(),
              "cpus": os.cpu_count(), "tensorflow": tf.__version__,
              "embedding": bench_embeddings(args.batch, args.steps), "peg_gate": bench_gate(args.batch, args.steps),
              "expert_bank": bench_expert_bank(args.batch, args.steps)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    e, g = result["embedding"], result["peg_gate"]
    print(f"multi-embedding fwd+bwd, batch {args.batch}, {e['fields']} fields x {e['tables']} tables:")
    print(f"  per_field {e['per_field_ms']:.2f} ms | per_table {e['per_table_ms']:.2f} ms | wide {e['wide_ms']:.2f} ms")
    print(f"PeG gate fwd+bwd: own_domain {g['own_domain_ms']:.2f} ms | all_domains {g['all_domains_ms']:.2f} ms")
    x = result["expert_bank"]
    print(f"expert bank fwd+bwd: expert_major {x['expert_major_ms']:.2f} ms | einsum {x['einsum_ms']:.2f} ms")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
