"""AUC, gAUC and logloss per domain and overall (SPEC §7), exact and vectorized.

* AUC: Mann-Whitney statistic with average ranks for tied scores.
* Overall AUC: on the pooled predictions of all domains.
* gAUC: `sum_u n_u AUC_u / sum_u n_u` over users u with both classes, n_u = impressions of u;
  users with one class are skipped. Computed per domain (users grouped within the domain) and
  overall (users grouped over all domains).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd


def _average_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of `scores`, ties sharing the mean of their positions."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # Start of each run of equal scores.
    starts = np.r_[True, sorted_scores[1:] != sorted_scores[:-1]]
    run_id = np.cumsum(starts) - 1
    run_start = np.flatnonzero(starts)
    run_end = np.r_[run_start[1:], len(scores)]  # exclusive
    mean_rank = (run_start + 1 + run_end) / 2.0  # mean of positions start+1 .. end
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = mean_rank[run_id]
    return ranks


def auc(labels, scores) -> float:
    """ROC AUC; NaN when only one class is present."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"auc: {labels.shape[0]} labels but {scores.shape[0]} scores.")
    positive = labels > 0.5
    n_pos = int(positive.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    rank_sum = _average_ranks(scores)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def gauc(labels, scores, users) -> float:
    """Impression-weighted mean of per-user AUCs over users with both classes; NaN if none."""
    frame = pd.DataFrame({"y": np.asarray(labels, dtype=np.float64).reshape(-1) > 0.5,
                          "s": np.asarray(scores, dtype=np.float64).reshape(-1),
                          "u": np.asarray(users).reshape(-1)})
    frame["rank"] = frame.groupby("u", sort=False)["s"].rank(method="average")
    frame["pos_rank"] = np.where(frame["y"], frame["rank"], 0.0)
    per_user = frame.groupby("u", sort=False).agg(n=("y", "size"), n_pos=("y", "sum"),
                                                  rank_sum=("pos_rank", "sum"))
    n_pos = per_user["n_pos"].to_numpy(np.float64)
    n = per_user["n"].to_numpy(np.float64)
    n_neg = n - n_pos
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return math.nan
    user_auc = (per_user["rank_sum"].to_numpy()[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2.0) / (
        n_pos[valid] * n_neg[valid])
    return float(np.sum(n[valid] * user_auc) / np.sum(n[valid]))


def logloss(labels, scores, epsilon: float = 1e-7) -> float:
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), epsilon, 1 - epsilon)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else math.nan


def domain_metrics(labels, scores, domains, users, domain_names: Sequence[str]) -> dict:
    """{"overall": {...}, "<domain name>": {...}} with auc, gauc, logloss, count, positive_rate."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores).reshape(-1)
    domains = np.asarray(domains).reshape(-1)
    users = np.asarray(users).reshape(-1)

    def summary(mask):
        y, s = labels[mask], scores[mask]
        return {"auc": auc(y, s), "gauc": gauc(y, s, users[mask]), "logloss": logloss(y, s),
                "count": int(mask.sum()), "positive_rate": float(y.mean()) if len(y) else math.nan}

    out = {"overall": summary(np.ones(len(labels), dtype=bool))}
    for index, name in enumerate(domain_names):
        out[str(name)] = summary(domains == index)
    return out


def metrics_markdown(metrics: dict) -> str:
    """A per-domain table of `domain_metrics` output."""
    lines = ["| domain | AUC | gAUC | logloss | rows | CTR |", "| --- | --- | --- | --- | --- | --- |"]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['auc']:.4f} | {m['gauc']:.4f} | {m['logloss']:.4f} | "
                     f"{m['count']} | {m['positive_rate']:.3f} |")
    return "\n".join(lines) + "\n"
