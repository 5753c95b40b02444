"""Evaluation metrics: exact AUC / gAUC / logloss per domain (SPEC §7)."""

from crocodile_tf.metrics.ranking import auc, domain_metrics, gauc, logloss, metrics_markdown

__all__ = ["auc", "domain_metrics", "gauc", "logloss", "metrics_markdown"]
