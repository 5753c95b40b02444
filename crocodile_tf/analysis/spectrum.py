"""Singular-value spectra and Information Abundance (paper §2.2, SPEC §7).

    IA(A) = ||sigma(A)||_1 / ||sigma(A)||_inf          sigma = singular values of A

A is an embedding matrix (rows = the ids of a group) or an expert-output matrix (rows = samples).
IA ranges from 1 (rank one: every row on one direction, full dimensional collapse) to
min(rows, cols) (all singular values equal: e.g. an orthogonal d x d matrix gives d). The matrix
is taken as it is, not centred, as in Guo et al. 2023 ("On the Embedding Collapse when Scaling Up
Recommendation Models"), whose definition the paper uses.
"""

from __future__ import annotations

import numpy as np


def _as_matrix(matrix) -> np.ndarray:
    array = np.asarray(matrix.numpy() if hasattr(matrix, "numpy") else matrix, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError("the matrix holds NaN or infinite values.")
    return array


def singular_values(matrix) -> np.ndarray:
    """Singular values of a 2-D matrix (numpy array or tensor), descending, float64."""
    array = _as_matrix(matrix)
    if array.size == 0:
        return np.zeros(0)
    return np.linalg.svd(array, compute_uv=False)


def information_abundance(matrix=None, *, sigma=None) -> float:
    """IA of a matrix, or of its singular values given as `sigma=`; 0.0 for an all-zero matrix.

    Args:
      matrix: [rows, cols] array or tensor.
      sigma: singular values (instead of `matrix`).
    """
    if (matrix is None) == (sigma is None):
        raise ValueError("information_abundance: give exactly one of matrix or sigma=.")
    values = singular_values(matrix) if sigma is None else np.abs(np.asarray(sigma, np.float64))
    top = float(values.max()) if values.size else 0.0
    if top == 0.0:
        return 0.0
    return float(values.sum() / top)


def log_spectrum(matrix, eps: float = 1e-12) -> np.ndarray:
    """log(sigma) of a matrix, descending (Fig. 5's curve); eps keeps exact zeros finite."""
    return np.log(np.maximum(singular_values(matrix), eps))


def frequency_groups(counts, num_groups: int = 5) -> list[np.ndarray]:
    """Ids split into `num_groups` exposure groups of (near) equal size, most exposed first.

    Only ids seen at least once take part (unseen rows are never trained and would only add
    noise). Ties are broken by id, so the split is deterministic. Group 0 is the top quintile
    (with the default 5), group -1 the bottom one.
    """
    counts = np.asarray(counts)
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}.")
    seen = np.flatnonzero(counts > 0)
    order = seen[np.lexsort((seen, -counts[seen]))]
    return [group for group in np.array_split(order, num_groups)]


def ia_by_frequency(table, counts, num_groups: int = 5) -> dict[str, float]:
    """IA of an embedding table's rows per exposure group: {"top", "bottom", "all", "group_i"}.

    Args:
      table: [vocab, dim] rows of one field of one table.
      counts: [vocab] exposures of each id (e.g. in the training split).
      num_groups: number of exposure groups (5 = quintiles, as in Fig. 2b).
    """
    table = _as_matrix(table)
    counts = np.asarray(counts)
    if counts.shape[0] != table.shape[0]:
        raise ValueError(f"counts has {counts.shape[0]} entries for a table of {table.shape[0]} rows.")
    groups = frequency_groups(counts, num_groups)
    out = {f"group_{i}": information_abundance(table[g]) if g.size else float("nan")
           for i, g in enumerate(groups)}
    out["top"], out["bottom"] = out["group_0"], out[f"group_{num_groups - 1}"]
    out["all"] = information_abundance(table[counts > 0]) if np.any(counts > 0) else float("nan")
    return out
