"""An id-level planted multi-domain CTR problem, in memory.

Used by tests, benchmarks and the raw-format generators (`synthetic.py`) as the one definition of
the planted structure. The structure is model-agnostic and fixed here, never tuned per model:

* domains are imbalanced (`domain_proportions`);
* every field value has a shared effect on the click logit, plus a domain-specific effect whose
  sign differs across domains for a `conflict` fraction of the fields (partly conflicting
  preferences: what raises clicks in one domain lowers them in another);
* a user x item interaction (latent factors) whose projection is partly domain-specific;
* a per-domain base rate, and label noise from the Bernoulli draw itself.

A model that shares everything across domains cannot fit the conflicting part; one with
domain-aware towers or gates can, which is the situation the paper studies.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from crocodile_tf.features import FeatureSchema, make_schema

# Paper Table 1 proportions (KuaiRand-1K tabs S0, S1, S2, S4, S6).
KUAIRAND_PROPORTIONS = (2.4, 7.8, 0.4, 0.9, 0.2)
# Ali-CCP domains 1, 2, 3.
ALICCP_PROPORTIONS = (32.0, 52.0, 0.6)


@dataclasses.dataclass(frozen=True)
class PlantedProblem:
    schema: FeatureSchema
    features: dict[str, np.ndarray]   # field -> int64 ids [N]
    labels: np.ndarray                 # float32 [N]
    logits: np.ndarray                 # the planted click logit [N] (the Bayes-optimal score)

    def split(self, fraction: float) -> tuple["PlantedProblem", "PlantedProblem"]:
        """First `fraction` of the rows and the rest (rows are already in random order)."""
        cut = int(len(self.labels) * fraction)
        head = PlantedProblem(self.schema, {k: v[:cut] for k, v in self.features.items()},
                              self.labels[:cut], self.logits[:cut])
        tail = PlantedProblem(self.schema, {k: v[cut:] for k, v in self.features.items()},
                              self.labels[cut:], self.logits[cut:])
        return head, tail

    def dataset(self, batch_size: int, shuffle: bool = True, seed: int = 0):
        """A tf.data pipeline of (features, label) batches over these rows."""
        import tensorflow as tf
        ds = tf.data.Dataset.from_tensor_slices((self.features, self.labels))
        if shuffle:
            ds = ds.shuffle(min(len(self.labels), 100_000), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def planted_problem(num_rows: int, *, num_domains: int = 2,
                    domain_proportions: tuple[float, ...] | None = None,
                    num_users: int = 200, num_items: int = 500,
                    context_vocab_sizes: tuple[int, ...] = (10, 20, 50),
                    conflict: float = 0.5, latent_dim: int = 4, signal: float = 2.0,
                    embedding_dim: int = 8, seed: int = 0) -> PlantedProblem:
    """Draws `num_rows` samples of the planted problem.

    Args:
      num_rows: samples to draw.
      num_domains: S; ignored when `domain_proportions` is given.
      domain_proportions: relative domain sizes (default: equal).
      num_users / num_items: id vocabularies (id 0 stays the default id and is never drawn).
      context_vocab_sizes: one extra categorical field `c<i>` per entry.
      conflict: fraction of fields whose domain-specific effect flips sign between domains.
      latent_dim: rank of the user x item interaction.
      signal: scale of all planted effects (higher = easier problem).
      embedding_dim: schema embedding_dim.
      seed: everything is a function of the seed.
    """
    if domain_proportions is None:
        domain_proportions = (1.0,) * num_domains
    num_domains = len(domain_proportions)
    rng = np.random.default_rng(seed)
    p = np.asarray(domain_proportions, dtype=np.float64)
    p /= p.sum()

    vocab = {"user_id": num_users + 1, "item_id": num_items + 1}
    vocab.update({f"c{i}": v + 1 for i, v in enumerate(context_vocab_sizes)})
    schema = make_schema(vocab, domain_field="domain", num_domains=num_domains,
                         embedding_dim=embedding_dim)

    domain = rng.choice(num_domains, size=num_rows, p=p).astype(np.int64)
    # Popularity skew (Zipf-like) for every id field, as in real logs.
    features = {"domain": domain}
    for name, size in vocab.items():
        weights = 1.0 / np.arange(1, size) ** 0.8
        features[name] = 1 + rng.choice(size - 1, size=num_rows, p=weights / weights.sum())

    logit = np.zeros(num_rows)
    names = list(vocab)
    flips = rng.random(len(names)) < conflict
    # Domain signs: +1 for even domains, -1 for odd ones, on the conflicting fields.
    domain_sign = np.where(domain % 2 == 0, 1.0, -1.0)
    for name, flip in zip(names, flips):
        shared = rng.normal(0.0, 0.5, vocab[name])
        specific = rng.normal(0.0, 1.0, (num_domains, vocab[name]))
        ids = features[name]
        logit += shared[ids]
        if flip:
            # One effect, opposite direction in alternating domains: conflicting preferences.
            logit += domain_sign * specific[0, ids]
        else:
            logit += 0.5 * specific[domain, ids]
    user_factors = rng.normal(0.0, 1.0, (vocab["user_id"], latent_dim))
    item_factors = rng.normal(0.0, 1.0, (vocab["item_id"], latent_dim))
    projection = rng.normal(0.0, 1.0, (num_domains, latent_dim)) + 0.5
    logit += 0.5 * np.einsum("nr,nr,nr->n", user_factors[features["user_id"]],
                             item_factors[features["item_id"]], projection[domain])
    base_rate = rng.normal(-0.5, 0.5, num_domains)
    logit = signal * logit / np.sqrt(len(names)) + base_rate[domain]
    labels = (rng.random(num_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    features = {k: v.astype(np.int64) for k, v in features.items()}
    return PlantedProblem(schema, features, labels, logit.astype(np.float32))


def kuairand_shaped_problem(num_rows: int, *, num_fields: int = 40, max_vocab: int = 200_000,
                            domain_proportions: tuple[float, ...] = KUAIRAND_PROPORTIONS,
                            embedding_dim: int = 16, seed: int = 0) -> PlantedProblem:
    """Random ids shaped like the converted KuaiRand-1K data, for speed and memory benchmarks.

    `num_fields` categorical fields with vocabularies spaced geometrically from 2 to `max_vocab`
    (the field nearest 1,001 ids is `user_id`, the largest `item_id`), plus the domain field with
    KuaiRand's 5 domain proportions. Ids have the same popularity skew as `planted_problem`; the
    label is a weak logistic function of a few fields (the shapes matter here, not the signal).
    """
    rng = np.random.default_rng(seed)
    sizes = [int(v) for v in np.geomspace(2, max_vocab, num_fields).round()]
    names = [f"f{i:02d}" for i in range(num_fields)]
    names[int(np.argmin([abs(v - 1001) for v in sizes]))] = "user_id"
    names[int(np.argmax(sizes))] = "item_id"
    p = np.asarray(domain_proportions, dtype=np.float64)
    schema = make_schema(dict(zip(names, sizes)), domain_field="domain", num_domains=len(p),
                         embedding_dim=embedding_dim)
    features = {"domain": rng.choice(len(p), size=num_rows, p=p / p.sum()).astype(np.int64)}
    logit = np.zeros(num_rows)
    for name, size in zip(names, sizes):
        if size == 1:
            features[name] = np.zeros(num_rows, dtype=np.int64)
            continue
        weights = 1.0 / np.arange(1, size) ** 0.8
        ids = 1 + rng.choice(size - 1, size=num_rows, p=weights / weights.sum())
        features[name] = ids.astype(np.int64)
        if size <= 1000:
            logit += rng.normal(0.0, 0.3, size)[ids]
    logit = logit - 1.0
    labels = (rng.random(num_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    return PlantedProblem(schema, features, labels, logit.astype(np.float32))
