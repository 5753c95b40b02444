"""Training losses: per-domain BCE (eq. 8) and the expert disentangling terms (Table 4)."""

from crocodile_tf.losses.covariance import (CrossExpertCovariance, covariance_matrix,
                                            cross_expert_covariance, pair_covariances)
from crocodile_tf.losses.disentangle import (CosineLoss, DistanceCorrelationLoss, DotProductLoss,
                                             ImportanceLoss, OLELoss, cosine_loss,
                                             distance_correlation_loss, dot_product_loss,
                                             importance_loss, nuclear_norm, ole_loss)
from crocodile_tf.losses.domain_bce import DomainBCE, domain_bce

# Disentangling terms selectable as ModelConfig.loss = "bce+<name>" (`--disentangle`): layer
# classes placed on the expert outputs [B, K, d] (or, with `reads_gate_weights`, on the gate
# weights), each an identity at inference that calls add_loss in training.
DISENTANGLE_LAYERS = {
    "cov": CrossExpertCovariance,
    "dot": DotProductLoss,
    "cos": CosineLoss,
    "dcorr": DistanceCorrelationLoss,
    "ole": OLELoss,
    "importance": ImportanceLoss,
}
DISENTANGLE_CHOICES = ("none",) + tuple(DISENTANGLE_LAYERS)


def loss_spec(disentangle: str) -> str:
    """ModelConfig.loss for a `--disentangle` choice: "bce" for "none", else "bce+<term>"."""
    if disentangle not in DISENTANGLE_CHOICES:
        raise ValueError(f"Unknown disentangling loss {disentangle!r}; choose from "
                         f"{list(DISENTANGLE_CHOICES)}.")
    return "bce" if disentangle == "none" else f"bce+{disentangle}"


def make_disentangle_layer(term: str, weight: float, normalize=None, sample_size=None, seed=None,
                           name: str | None = None):
    """The `add_loss` layer of disentangling term `term` (a key of DISENTANGLE_LAYERS)."""
    if term not in DISENTANGLE_LAYERS:
        raise ValueError(f"Unknown disentangling loss {term!r}; choose from "
                         f"{sorted(DISENTANGLE_LAYERS)} (or loss='bce' for none).")
    return DISENTANGLE_LAYERS[term](weight=weight, normalize=normalize, sample_size=sample_size,
                                    seed=seed, name=name or f"{term}_loss")


__all__ = ["CosineLoss", "CrossExpertCovariance", "DISENTANGLE_CHOICES", "DISENTANGLE_LAYERS",
           "DistanceCorrelationLoss", "DomainBCE", "DotProductLoss", "ImportanceLoss", "OLELoss",
           "cosine_loss", "covariance_matrix", "cross_expert_covariance", "distance_correlation_loss",
           "domain_bce", "dot_product_loss", "importance_loss", "loss_spec", "make_disentangle_layer",
           "nuclear_norm", "ole_loss", "pair_covariances"]
