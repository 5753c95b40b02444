"""Where the analysis finds experts and embedding tables in a model (the probing protocol).

Experts. `expert_probe(model)` looks for the expert bank in this order:

1. a layer named ``experts`` (Crocodile, ME-MMoE, MMoE, SDEM, HiNet);
2. layers named ``experts_<level>``: the last (deepest) level (PLE, ME-PLE);
3. otherwise the last `ExpertBank` layer of the model;

and needs its output to be [B, K, d]. Models without experts (Shared-Bottom, Single-Domain,
STAR, PEPNet, AdaSparse) give None: DI, expert IA and the covariance heatmaps are skipped for
them, with a note. A model outside the zoo can follow the protocol by naming its expert layer
``experts``.

Domain ownership. An expert is *domain-bound* when one domain owns it (DI eq. 3 applies) and
*shared* otherwise (eq. 2). A model may declare `model.expert_domains` (one domain id or None
per expert); otherwise the zoo's layout is used: PLE, ME-PLE, SDEM and HiNet order their experts
as `models.common.expert_partition` does (shared first, then `specific_experts` per domain);
every other model's experts are shared.

Embeddings. `embedding_tables(model, field)` returns the rows of `field` in every table of every
`MultiEmbedding` layer (the prior embeddings of PeG are not among them), with the owning domain
of domain-owned tables (SDEM: table 1+s; Single-Domain: table s; ME-PLE: the table of a
domain's expert).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.layers import ExpertBank, MultiEmbedding, PriorEmbedding

# Zoo models whose experts are laid out by `models.common.expert_partition`.
DOMAIN_BOUND_MODELS = ("ple", "me_ple", "sdem", "hinet")
_LEVEL = re.compile(r"^experts_(\d+)$")


@dataclasses.dataclass(frozen=True)
class ExpertProbe:
    """The expert bank of a model: the layer, a [B, K, d] sub-model, and who owns each expert."""

    layer: tf_keras.layers.Layer
    outputs_model: tf_keras.Model
    owners: tuple[int | None, ...]   # per expert: owning domain id, or None if shared

    @property
    def num_experts(self) -> int:
        return len(self.owners)

    @property
    def domain_bound(self) -> bool:
        return any(o is not None for o in self.owners)

    def experts_of(self, domain: int) -> list[int]:
        return [e for e, o in enumerate(self.owners) if o == domain]


def model_kind(model: tf_keras.Model, name: str | None = None) -> str:
    """The registry name of a zoo model (builders name the model after it)."""
    return name or model.name


def find_expert_layer(model: tf_keras.Model):
    """The expert bank layer per the protocol above, or None."""
    by_name = {layer.name: layer for layer in model.layers}
    if "experts" in by_name:
        return by_name["experts"]
    levels = [(int(m.group(1)), layer) for layer in model.layers if (m := _LEVEL.match(layer.name))]
    if levels:
        return max(levels, key=lambda item: item[0])[1]
    banks = [layer for layer in model.layers if isinstance(layer, ExpertBank)]
    return banks[-1] if banks else None


def _partition_owners(num_experts: int, num_domains: int, config) -> list[int | None]:
    shared = getattr(config, "shared_experts", None)
    specific = getattr(config, "specific_experts", None)
    if shared is None:  # no config: zoo defaults, checked against the expert count below
        shared, specific = 1, 1
    if shared + num_domains * specific != num_experts:
        raise ValueError(
            f"{num_experts} experts do not match shared_experts={shared} + {num_domains} domains x "
            f"specific_experts={specific}; pass the run's ModelConfig.")
    return [None] * shared + [s for s in range(num_domains) for _ in range(specific)]


def expert_owners(model: tf_keras.Model, num_experts: int, config=None,
                  name: str | None = None) -> tuple[int | None, ...]:
    """Owning domain (or None) of each expert; see the module docstring."""
    declared = getattr(model, "expert_domains", None)
    if declared is not None:
        declared = tuple(None if d is None else int(d) for d in declared)
        if len(declared) != num_experts:
            raise ValueError(f"{model.name}.expert_domains has {len(declared)} entries for "
                             f"{num_experts} experts.")
        return declared
    if model_kind(model, name) in DOMAIN_BOUND_MODELS:
        return tuple(_partition_owners(num_experts, int(model.num_domains), config))
    return (None,) * num_experts


def expert_probe(model: tf_keras.Model, config=None, name: str | None = None) -> ExpertProbe | None:
    """The ExpertProbe of `model`, or None when it has no expert bank.

    Args:
      model: a functional model (the zoo's MultiDomainModel).
      config: its ModelConfig (needed for domain-bound models with non-default expert counts).
      name: registry name, when the model was built under another name.
    """
    layer = find_expert_layer(model)
    if layer is None:
        return None
    if layer.output.shape.rank != 3:
        raise ValueError(f"{model.name}: expert layer {layer.name!r} outputs shape "
                         f"{layer.output.shape}, not [B, K, d].")
    outputs_model = tf_keras.Model(model.input, layer.output, name=f"{model.name}_experts")
    owners = expert_owners(model, int(layer.output.shape[1]), config, name)
    return ExpertProbe(layer, outputs_model, owners)


def collect(model_or_probe, dataset: tf.data.Dataset, domain_field: str, max_rows: int | None = None,
            fields: Sequence[str] = ()):
    """Runs a [B, ...] sub-model over `dataset` (feature dicts, or (features, label) pairs).

    Returns (outputs [N, ...], domain ids [N], {field: ids [N]}) for at most `max_rows` rows.
    """
    model = model_or_probe.outputs_model if isinstance(model_or_probe, ExpertProbe) else model_or_probe
    outputs, domains, ids, seen = [], [], {f: [] for f in fields}, 0
    for batch in dataset:
        features = batch[0] if isinstance(batch, (tuple, list)) else batch
        # Eager: a few large batches, and no tf.function retraced per probed model.
        outputs.append(model(features, training=False).numpy())
        domains.append(np.asarray(features[domain_field]).reshape(-1))
        for f in fields:
            ids[f].append(np.asarray(features[f]).reshape(-1))
        seen += len(domains[-1])
        if max_rows and seen >= max_rows:
            break
    if not outputs:
        raise ValueError("the dataset is empty.")
    cut = slice(0, max_rows or None)
    return (np.concatenate(outputs)[cut], np.concatenate(domains)[cut],
            {f: np.concatenate(v)[cut] for f, v in ids.items()})


@dataclasses.dataclass(frozen=True)
class EmbeddingTable:
    """One field's rows of one embedding table."""

    layer: str
    index: int
    owner: int | None     # owning domain, None for a shared table
    matrix: np.ndarray    # [vocab, dim]

    @property
    def label(self) -> str:
        return f"{self.layer}[{self.index}]"


def _table_owners(model: tf_keras.Model, num_tables: int, config, name: str | None):
    kind = model_kind(model, name)
    num_domains = int(getattr(model, "num_domains", 0))
    if kind == "sdem" and num_tables == 1 + num_domains:
        return [None] + list(range(num_domains))
    if kind == "single_domain" and num_tables == num_domains:
        return list(range(num_domains))
    if kind == "me_ple":
        try:
            owners = _partition_owners(num_tables, num_domains, config)
        except ValueError:
            return [None] * num_tables
        return owners
    return [None] * num_tables


def embedding_tables(model: tf_keras.Model, field: str, config=None,
                     name: str | None = None) -> list[EmbeddingTable]:
    """`field`'s rows in every table of every MultiEmbedding layer (prior embeddings excluded)."""
    tables = []
    for layer in model.layers:
        if not isinstance(layer, MultiEmbedding) or isinstance(layer, PriorEmbedding):
            continue
        if field not in layer.field_names:
            continue
        owners = _table_owners(model, layer.num_tables, config, name)
        for p in range(layer.num_tables):
            tables.append(EmbeddingTable(layer.name, p, owners[p], layer.table(p, field).numpy()))
    return tables


def id_counts(dataset: tf.data.Dataset, field: str, vocab_size: int, domain_field: str | None = None,
              num_domains: int = 0, max_rows: int | None = None):
    """Exposures of each id of `field` in `dataset`: [vocab] (and [S, vocab] per domain)."""
    total = np.zeros(vocab_size, np.int64)
    per_domain = np.zeros((num_domains, vocab_size), np.int64) if domain_field else None
    seen = 0
    for batch in dataset:
        features = batch[0] if isinstance(batch, (tuple, list)) else batch
        ids = np.asarray(features[field]).reshape(-1)
        if max_rows:
            ids = ids[:max_rows - seen]
        total += np.bincount(ids, minlength=vocab_size)[:vocab_size]
        if per_domain is not None:
            domains = np.asarray(features[domain_field]).reshape(-1)[:len(ids)]
            np.add.at(per_domain, (domains, ids), 1)
        seen += len(ids)
        if max_rows and seen >= max_rows:
            break
    return total, per_domain
