"""`ModelConfig`: the hyper-parameters every model of the zoo is built from.

Capacity rule (so baselines are compared at equal size, not handicapped):

* every embedding table of every model has the same width per field (`embedding_dim`, default:
  the schema's); single-embedding models (Shared-Bottom, MMoE, PLE, STAR, PEPNet, HiNet,
  AdaSparse) have one table, Crocodile and ME-MMoE `num_embeddings` tables, and the models with
  domain-owned tables have one table per owner (Single-Domain: one per domain; SDEM: one shared
  + one per domain; ME-PLE: one per expert);
* every expert is an MLP of widths `expert_units` (d = expert_units[-1]); mixture-of-experts
  models have `num_experts` experts (MMoE, Crocodile, ME-MMoE) or `shared_experts` shared plus
  `specific_experts` per domain (PLE, ME-PLE, SDEM, HiNet). PLE and ME-PLE spread the same
  widths over their progressive extraction levels: level l's experts are one `expert_units[l]`
  layer, so an expert path is exactly as wide and as deep as any other model's expert;
* models without experts use `expert_units` as their bottom/backbone MLP (Shared-Bottom,
  Single-Domain per domain, STAR's star-topology FCN, PEPNet's PPNet, AdaSparse's MLP);
* every model scores a sample with a tower of widths `tower_units` + a 1-unit output, one per
  domain (STAR's per-domain FCN continues through `tower_units` with star weights);
* gate / prior networks are small and derived, not tuned: prior embeddings are `prior_dim`
  wide, PEPNet's Gate NUs and nothing else have `expert_units[-1]` hidden units.

Defaults are SPEC §9's reference configuration.
"""

from __future__ import annotations

import dataclasses
from typing import Any

GATES = ("mmoe", "pg", "peg")


def from_checked_dict(cls, config: dict[str, Any]):
    """`cls(**config)` for a dataclass, with unknown keys reported by name."""
    unknown = set(config) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}.")
    return cls(**config)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model hyper-parameters (one set shared by the whole zoo; each model reads what it needs).

    Attributes:
      embedding_dim: width per field per table (None = the schema's embedding_dim).
      num_embeddings: M, the number of embedding tables of multi-embedding models.
      num_experts: K (None = num_embeddings). Crocodile requires K = M: expert p reads table p.
      shared_experts: experts shared by all domains in PLE, ME-PLE, SDEM and HiNet.
      specific_experts: experts owned by each domain in PLE, ME-PLE, SDEM and HiNet.
      expert_units: widths of each expert MLP; d = expert_units[-1].
      tower_units: hidden widths of each domain tower (a 1-unit output layer is added).
      gate: Crocodile's gate: "peg" (prior element-wise), "pg" (prior scalar), "mmoe".
      loss: "bce", or "bce+<term>" with a disentangling term from `crocodile_tf.losses`
        (Crocodile: "bce+cov"; the `--disentangle` choices). `gate`, `loss` and `cov_*` are
        Crocodile's switches (Tables 4-5); the baselines train with BCE as in their papers and
        ME-MMoE fixes gate="mmoe", loss="bce".
      cov_weight: alpha, the weight of the disentangling term.
      cov_normalize: None (paper's CovLoss, no 1/N) or "batch".
      cov_sample_size: compute the disentangling term on this many random rows (None = batch).
      prior_dim: width of the prior embeddings (None = embedding_dim).
      dropout: dropout rate in experts and towers.
      seed: seed for stochastic ops inside the model (row sub-sampling of the loss).
    """

    embedding_dim: int | None = None
    num_embeddings: int = 3
    num_experts: int | None = None
    shared_experts: int = 1
    specific_experts: int = 1
    expert_units: tuple[int, ...] = (256, 128)
    tower_units: tuple[int, ...] = (64,)
    gate: str = "peg"
    loss: str = "bce+cov"
    cov_weight: float = 1e-4
    cov_normalize: str | None = None
    cov_sample_size: int | None = None
    prior_dim: int | None = None
    dropout: float = 0.0
    seed: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "expert_units", tuple(self.expert_units))
        object.__setattr__(self, "tower_units", tuple(self.tower_units))
        if not isinstance(self.num_embeddings, int) or self.num_embeddings < 1:
            raise ValueError(f"ModelConfig: num_embeddings must be an int >= 1, got {self.num_embeddings!r}.")
        if self.num_experts is not None and (not isinstance(self.num_experts, int) or self.num_experts < 1):
            raise ValueError(f"ModelConfig: num_experts must be None or an int >= 1, got {self.num_experts!r}.")
        for name in ("shared_experts", "specific_experts"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig: {name} must be an int >= 1, got {value!r}.")
        if self.gate not in GATES:
            raise ValueError(f"ModelConfig: gate must be one of {GATES}, got {self.gate!r}.")
        if self.loss != "bce" and not self.loss.startswith("bce+"):
            raise ValueError(f"ModelConfig: loss must be 'bce' or 'bce+<term>', got {self.loss!r}.")
        if self.cov_weight < 0:
            raise ValueError(f"ModelConfig: cov_weight must be >= 0, got {self.cov_weight!r}.")
        for name in ("embedding_dim", "prior_dim"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"ModelConfig: {name} must be None or an int >= 1, got {value!r}.")
        if not self.expert_units or any(u < 1 for u in self.expert_units):
            raise ValueError(f"ModelConfig: expert_units must be positive widths, got {list(self.expert_units)}.")
        if any(u < 1 for u in self.tower_units):
            raise ValueError(f"ModelConfig: tower_units must be positive widths, got {list(self.tower_units)}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig: dropout must be in [0, 1), got {self.dropout!r}.")

    @property
    def disentangle(self) -> str:
        """The disentangling term ("none" for plain BCE)."""
        return "none" if self.loss == "bce" else self.loss[len("bce+"):]

    @property
    def experts(self) -> int:
        return self.num_experts or self.num_embeddings

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["expert_units"] = list(self.expert_units)
        out["tower_units"] = list(self.tower_units)
        return out

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "ModelConfig":
        return from_checked_dict(cls, config)
