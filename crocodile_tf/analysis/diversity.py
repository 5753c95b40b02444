"""Diversity Index, DI (paper §2.1, eq. 1-3; SPEC §7).

For an ordered domain pair (i, j), D_(i,j) holds the samples on which a *reference* model with
domain-bound experts (SDEM by default) shows a domain-wise difference of interest:

    D_(i,j) = { k : ||O_ref^i(x_k)|| >= tau_t  and  ||O_ref^j(x_k)|| <= tau_b }          eq. 1

The DI of a model on the pair is the fraction of D_(i,j) on which *it* also separates strong
from weak interest:

    shared experts (MMoE, ME-MMoE, Crocodile, ...):
        mean_{k in D} 1[ exists p, q : ||O^p(x_k)|| >= tau_t and ||O^q(x_k)|| <= tau_b ]  eq. 2
    domain-bound experts (SDEM, PLE, ME-PLE, HiNet):
        mean_{k in D} 1[ ||O^i(x_k)|| >= tau_t and ||O^j(x_k)|| <= tau_b ]                eq. 3

and DI = the mean over the pairs with a non-empty D_(i,j). Norms are L2 norms of expert outputs;
when a domain owns several experts, ||O^i|| is the mean of their norms.

Thresholds (not given by the paper). Expert norms of different models live on different scales,
so one absolute threshold would measure scale, not diversity. By default each model gets its own
thresholds from its own norm distribution (pooled over all samples and experts; for the reference
over its domain-bound experts): tau_t = the 0.8 quantile and tau_b = the 0.2 quantile
(`DEFAULT_QUANTILES`). Absolute values `tau_t`, `tau_b` can be given instead; they then apply to
the reference and the model alike, as in the paper.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

DEFAULT_QUANTILES = (0.8, 0.2)   # (top, bottom) quantiles of a model's expert-norm distribution


def _check_thresholds(tau_t: float, tau_b: float) -> None:
    if not tau_t > tau_b:
        raise ValueError(f"tau_t must be greater than tau_b, got tau_t={tau_t}, tau_b={tau_b}.")


def quantile_thresholds(norms, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> tuple[float, float]:
    """(tau_t, tau_b) as the (top, bottom) quantiles of all the values of `norms`."""
    top, bottom = quantiles
    if not 0.0 <= bottom < top <= 1.0:
        raise ValueError(f"quantiles must satisfy 0 <= bottom < top <= 1, got {tuple(quantiles)}.")
    values = np.asarray(norms, np.float64).reshape(-1)
    return float(np.quantile(values, top)), float(np.quantile(values, bottom))


def expert_norms(outputs) -> np.ndarray:
    """L2 norm of each expert output: [N, K, d] -> [N, K]."""
    outputs = np.asarray(outputs, np.float64)
    if outputs.ndim != 3:
        raise ValueError(f"expert outputs must be [N, K, d], got shape {outputs.shape}.")
    return np.linalg.norm(outputs, axis=2)


def domain_norms(norms, owners: Sequence[int | None], num_domains: int) -> np.ndarray:
    """[N, S] norm of each domain's own experts (mean over the experts a domain owns)."""
    norms = np.asarray(norms, np.float64)
    columns = []
    for s in range(num_domains):
        owned = [e for e, o in enumerate(owners) if o == s]
        if not owned:
            raise ValueError(f"domain {s} owns no expert; owners are {list(owners)}.")
        columns.append(norms[:, owned].mean(axis=1))
    return np.stack(columns, axis=1)


def pair_sets(reference_domain_norms, tau_t: float, tau_b: float) -> dict[tuple[int, int], np.ndarray]:
    """Eq. 1: boolean row mask of D_(i,j) for every ordered pair i != j."""
    _check_thresholds(tau_t, tau_b)
    ref = np.asarray(reference_domain_norms, np.float64)
    num_domains = ref.shape[1]
    return {(i, j): (ref[:, i] >= tau_t) & (ref[:, j] <= tau_b)
            for i in range(num_domains) for j in range(num_domains) if i != j}


def shared_expert_hits(norms, tau_t: float, tau_b: float) -> np.ndarray:
    """Eq. 2's indicator per sample: some expert >= tau_t and some (other) expert <= tau_b."""
    _check_thresholds(tau_t, tau_b)  # tau_t > tau_b: one expert cannot satisfy both
    norms = np.asarray(norms, np.float64)
    return np.any(norms >= tau_t, axis=1) & np.any(norms <= tau_b, axis=1)


def domain_bound_hits(domain_norms_, i: int, j: int, tau_t: float, tau_b: float) -> np.ndarray:
    """Eq. 3's indicator per sample: domain i's expert >= tau_t and domain j's <= tau_b."""
    _check_thresholds(tau_t, tau_b)
    norms = np.asarray(domain_norms_, np.float64)
    return (norms[:, i] >= tau_t) & (norms[:, j] <= tau_b)


@dataclasses.dataclass
class DiversityResult:
    """DI overall and per ordered domain pair (pairs with an empty D_(i,j) have di=None)."""

    di: float
    pairs: dict[tuple[int, int], dict]     # (i, j) -> {"di": float | None, "support": |D_ij|}
    formula: str                           # "shared" (eq. 2) or "domain_bound" (eq. 3)
    thresholds: dict                       # tau_t / tau_b of the reference and of the model

    def sorted_pairs(self) -> list[tuple[tuple[int, int], float]]:
        """(pair, DI) of the non-empty pairs, highest DI first (Fig. 6's order)."""
        items = [(p, v["di"]) for p, v in self.pairs.items() if v["di"] is not None]
        return sorted(items, key=lambda item: -item[1])

    def to_dict(self, domains: Sequence[str] | None = None) -> dict:
        def name(p):
            return f"{domains[p[0]]}->{domains[p[1]]}" if domains else f"{p[0]}->{p[1]}"
        return {"di": self.di, "formula": self.formula, "thresholds": self.thresholds,
                "pairs": {name(p): v for p, v in self.pairs.items()}}


def diversity_index_from_norms(reference_domain_norms, model_norms, *, domain_bound: bool,
                               tau_t: float | None = None, tau_b: float | None = None,
                               quantiles: Sequence[float] = DEFAULT_QUANTILES) -> DiversityResult:
    """DI from expert norms (the numeric core of `diversity_index`).

    Args:
      reference_domain_norms: [N, S], the reference model's norm of each domain's own expert.
      model_norms: [N, S] domain-expert norms if `domain_bound`, else [N, K] all expert norms.
      domain_bound: eq. 3 (True) or eq. 2 (False).
      tau_t, tau_b: absolute thresholds for both models; None = per-model `quantiles`.
      quantiles: (top, bottom) quantiles used when the thresholds are None.
    """
    ref = np.asarray(reference_domain_norms, np.float64)
    norms = np.asarray(model_norms, np.float64)
    if ref.ndim != 2 or norms.ndim != 2 or ref.shape[0] != norms.shape[0]:
        raise ValueError(f"norms must be [N, S] and [N, K] over the same rows, got {ref.shape} "
                         f"and {norms.shape}.")
    if domain_bound and norms.shape[1] != ref.shape[1]:
        raise ValueError(f"a domain-bound model needs one norm per domain ({ref.shape[1]}), "
                         f"got {norms.shape[1]}.")
    if (tau_t is None) != (tau_b is None):
        raise ValueError("give both tau_t and tau_b, or neither (per-model quantiles).")
    if tau_t is None:
        ref_t, ref_b = quantile_thresholds(ref, quantiles)
        mod_t, mod_b = quantile_thresholds(norms, quantiles)
    else:
        ref_t, ref_b = mod_t, mod_b = float(tau_t), float(tau_b)
    sets = pair_sets(ref, ref_t, ref_b)
    shared_hits = None if domain_bound else shared_expert_hits(norms, mod_t, mod_b)
    pairs = {}
    for (i, j), mask in sets.items():
        support = int(mask.sum())
        if support == 0:
            pairs[(i, j)] = {"di": None, "support": 0}
            continue
        hits = domain_bound_hits(norms, i, j, mod_t, mod_b) if domain_bound else shared_hits
        pairs[(i, j)] = {"di": float(hits[mask].mean()), "support": support}
    values = [v["di"] for v in pairs.values() if v["di"] is not None]
    return DiversityResult(
        di=float(np.mean(values)) if values else float("nan"), pairs=pairs,
        formula="domain_bound" if domain_bound else "shared",
        thresholds={"reference": {"tau_t": ref_t, "tau_b": ref_b},
                    "model": {"tau_t": mod_t, "tau_b": mod_b},
                    "mode": "quantile" if tau_t is None else "absolute",
                    "quantiles": list(quantiles) if tau_t is None else None})


def diversity_index(model, reference_model, dataset, tau_t: float | None = None,
                    tau_b: float | None = None, *, quantiles: Sequence[float] = DEFAULT_QUANTILES,
                    max_rows: int | None = 20000, domain_field: str | None = None,
                    model_config=None, reference_config=None) -> DiversityResult:
    """DI of `model` against a reference with domain-bound experts, on the rows of `dataset`.

    Args:
      model, reference_model: zoo models (see `probe` for how their experts are found).
      dataset: (features, label) batches; both models see the same rows.
      tau_t, tau_b: absolute norm thresholds; None = per-model quantiles (module docstring).
      quantiles: (top, bottom) quantiles for the default thresholds.
      max_rows: rows used (None = the whole dataset).
      domain_field: the domain input (default: the models' `domain_field`).
      model_config, reference_config: the ModelConfigs (for non-default expert layouts).

    Raises:
      ValueError: if a model has no experts or the reference has no domain-bound experts.
    """
    from crocodile_tf.analysis.probe import collect, expert_probe

    domain_field = domain_field or model.domain_field
    ref_probe = expert_probe(reference_model, reference_config)
    probe = expert_probe(model, model_config)
    if ref_probe is None or not ref_probe.domain_bound:
        raise ValueError(f"reference model {reference_model.name!r} has no domain-bound experts; "
                         "DI needs e.g. an SDEM run as reference.")
    if probe is None:
        raise ValueError(f"model {model.name!r} has no expert layer; DI is not defined for it.")
    num_domains = int(reference_model.num_domains)
    ref_out, _, _ = collect(ref_probe, dataset, domain_field, max_rows)
    out, _, _ = collect(probe, dataset, domain_field, max_rows)
    n = min(len(ref_out), len(out))
    ref_norms = domain_norms(expert_norms(ref_out[:n]), ref_probe.owners, num_domains)
    norms = expert_norms(out[:n])
    if probe.domain_bound:
        norms = domain_norms(norms, probe.owners, num_domains)
    return diversity_index_from_norms(ref_norms, norms, domain_bound=probe.domain_bound,
                                      tau_t=tau_t, tau_b=tau_b, quantiles=quantiles)
