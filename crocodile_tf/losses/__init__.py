"""Training losses: per-domain BCE (eq. 8) and the expert disentangling terms (Table 4)."""

from crocodile_tf.losses.covariance import (CrossExpertCovariance, covariance_matrix,
                                            cross_expert_covariance, pair_covariances)
from crocodile_tf.losses.domain_bce import DomainBCE, domain_bce

# Disentangling terms selectable as ModelConfig.loss = "bce+<name>": layer classes placed on the
# expert outputs [B, K, d], each an identity at inference that calls add_loss in training.
DISENTANGLE_LAYERS = {
    "cov": CrossExpertCovariance,
}


def make_disentangle_layer(term: str, weight: float, normalize=None, sample_size=None, seed=None,
                           name: str | None = None):
    """The `add_loss` layer of disentangling term `term` (a key of DISENTANGLE_LAYERS)."""
    if term not in DISENTANGLE_LAYERS:
        raise ValueError(f"Unknown disentangling loss {term!r}; choose from "
                         f"{sorted(DISENTANGLE_LAYERS)} (or loss='bce' for none).")
    return DISENTANGLE_LAYERS[term](weight=weight, normalize=normalize, sample_size=sample_size,
                                    seed=seed, name=name or f"{term}_loss")


__all__ = ["CrossExpertCovariance", "DomainBCE", "DISENTANGLE_LAYERS", "covariance_matrix",
           "cross_expert_covariance", "domain_bce", "make_disentangle_layer", "pair_covariances"]
