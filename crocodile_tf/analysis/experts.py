"""Expert-output statistics: the Fig. 7 covariance matrices and per-domain expert IA (Fig. 2a).

The expert-pair matrix reuses `crocodile_tf.losses.covariance_matrix` (the CovLoss formula, with
`normalize="batch"` by default so that matrices over different row counts compare); the
dimension-level matrix is the covariance of all K * d output dimensions of all experts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from crocodile_tf.analysis.spectrum import information_abundance
from crocodile_tf.losses.covariance import covariance_matrix


def _outputs(outputs) -> np.ndarray:
    outputs = np.asarray(outputs, np.float32)
    if outputs.ndim != 3:
        raise ValueError(f"expert outputs must be [N, K, d], got shape {outputs.shape}.")
    return outputs


def expert_pair_covariance(outputs, normalize: str | None = "batch") -> np.ndarray:
    """[K, K] ||C_pq||_1 / d^2 of every expert pair (Fig. 7 left); diagonal = own variance."""
    return covariance_matrix(tf.constant(_outputs(outputs)), normalize=normalize).numpy()


def cross_covariance_total(outputs, normalize: str | None = "batch") -> float:
    """Sum of the off-diagonal entries of `expert_pair_covariance` (each pair counted twice)."""
    matrix = expert_pair_covariance(outputs, normalize)
    return float(matrix.sum() - np.trace(matrix))


def dimension_covariance(outputs) -> np.ndarray:
    """[K*d, K*d] covariance (1/N) of every output dimension of every expert (Fig. 7 right).

    Row/column p*d + i is dimension i of expert p; the off-diagonal d x d blocks are the
    C_pq / N that CovLoss penalises, the diagonal blocks each expert's own covariance.
    """
    outputs = _outputs(outputs).astype(np.float64)
    flat = outputs.reshape(outputs.shape[0], -1)
    centered = flat - flat.mean(axis=0, keepdims=True)
    return centered.T @ centered / max(len(flat), 1)


def expert_ia_by_domain(outputs, domains, num_domains: int,
                        domain_names: Sequence[str] | None = None) -> dict[str, list[float]]:
    """IA of each expert's output matrix [N_s, d] over the rows of each domain (and overall).

    Returns {"overall": [IA of expert p], <domain name>: [...]} ; NaN for a domain without rows.
    """
    outputs = _outputs(outputs)
    domains = np.asarray(domains).reshape(-1)
    names = list(domain_names) if domain_names else [str(s) for s in range(num_domains)]
    result = {"overall": [information_abundance(outputs[:, p]) for p in range(outputs.shape[1])]}
    for s, name in enumerate(names):
        rows = outputs[domains == s]
        result[name] = ([information_abundance(rows[:, p]) for p in range(outputs.shape[1])]
                        if len(rows) else [float("nan")] * outputs.shape[1])
    return result
