"""Cross-expert Covariance Loss, CovLoss (SPEC §3, paper eq. 7 and Appendix A).

    C_pq  = (O^(p) - mean_N O^(p))^T (O^(q) - mean_N O^(q))      d x d, summed over the N rows
    L_cov = (1 / d^2) * sum_{p > q} ||C_pq||_1                    entrywise l1 norm

Choices (SPEC §3): strictly p > q, the M(M-1)/2 cross-expert pairs of Appendix A (the paper prints
p >= q, which would also penalise each expert's own variance and push towards collapse); no 1/N
by default, so alpha is on the paper's scale (alpha >= 2e-5 works there), with
`normalize="batch"` dividing by the number of rows used; `sample_size` computes the loss on a
random subset of rows of the batch (Appendix A: 32 rows match 1024).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

_NORMALIZE = (None, "batch")


def _pairs(num_experts: int) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.tril_indices(num_experts, k=-1)  # all p > q
    return p.astype(np.int32), q.astype(np.int32)


def _centered(experts: tf.Tensor) -> tf.Tensor:
    experts = tf.cast(experts, tf.float32)
    return experts - tf.reduce_mean(experts, axis=0, keepdims=True)


def pair_covariances(experts: tf.Tensor) -> tf.Tensor:
    """C_pq for every pair p > q: [P, d, d], P = K(K-1)/2, in `np.tril_indices(K, -1)` order."""
    centered = _centered(experts)
    p, q = _pairs(experts.shape[1])
    return tf.einsum("npi,npj->pij", tf.gather(centered, p, axis=1), tf.gather(centered, q, axis=1))


def cross_expert_covariance(experts: tf.Tensor, normalize: str | None = None) -> tf.Tensor:
    """L_cov of expert outputs `experts` [N, K, d] (float32 scalar); 0 for a single expert."""
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}, got {normalize!r}.")
    num_experts, dim = experts.shape[1], experts.shape[2]
    if num_experts < 2:
        return tf.constant(0.0)
    loss = tf.reduce_sum(tf.abs(pair_covariances(experts))) / float(dim * dim)
    if normalize == "batch":
        loss = loss / tf.cast(tf.shape(experts)[0], tf.float32)
    return loss


def covariance_matrix(experts: tf.Tensor, normalize: str | None = "batch") -> tf.Tensor:
    """[K, K] matrix of ||C_pq||_1 / d^2 for every expert pair (symmetric, the Fig. 7 heatmap).

    The diagonal holds each expert's own ||C_pp||_1 / d^2 for reference; L_cov sums the strict
    lower triangle.
    """
    centered = _centered(experts)
    dim = float(experts.shape[2])
    full = tf.einsum("npi,nqj->pqij", centered, centered)
    matrix = tf.reduce_sum(tf.abs(full), axis=[2, 3]) / (dim * dim)
    if normalize == "batch":
        matrix = matrix / tf.cast(tf.shape(experts)[0], tf.float32)
    return matrix


def subsample_rows(x: tf.Tensor, sample_size: int | None, seed: int | None = None) -> tf.Tensor:
    """A uniformly random subset of `sample_size` rows of x (all rows if the batch is smaller)."""
    if not sample_size:
        return x
    n = tf.shape(x)[0]
    index = tf.random.shuffle(tf.range(n), seed=seed)[:tf.minimum(n, sample_size)]
    return tf.gather(x, index)


def is_training(training) -> bool:
    """Keras passes `training` as a Python bool in fit/predict; resolve a constant tensor too."""
    if isinstance(training, tf.Tensor):
        return bool(tf.get_static_value(training))
    return bool(training)


@tf_keras.utils.register_keras_serializable(package="crocodile_tf")
class CrossExpertCovariance(tf_keras.layers.Layer):
    """Adds `weight * L_cov` of the expert outputs [B, K, d] to the model with `add_loss`.

    The layer is an identity on its input: place it between the experts and the gates. The loss
    is computed only when called with `training=True` (Model.fit); inference and the exported
    serving graph never contain it. During training it also reports the unweighted value as a
    metric named after the layer (`cov_loss` in the zoo), so fit logs and TensorBoard show it;
    `MultiDomainModel` leaves it out of evaluation logs, where it is not computed.

    Args:
      weight: alpha, the loss weight (>= 0; 0 disables the computation).
      normalize: None (paper's formula, default) or "batch" (divide by the rows used).
      sample_size: compute on this many random rows of the batch (None = all rows).
      seed: op seed of the row sampling.
    """

    training_only_metric = True

    def __init__(self, weight: float = 1e-4, normalize: str | None = None,
                 sample_size: int | None = None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"{name}: weight must be a number >= 0, got {weight!r}.")
        if normalize not in _NORMALIZE:
            raise ValueError(f"{name}: normalize must be one of {_NORMALIZE}, got {normalize!r}.")
        if sample_size is not None and (not isinstance(sample_size, int) or sample_size < 2):
            raise ValueError(f"{name}: sample_size must be None or an int >= 2, got {sample_size!r}.")
        self.weight = float(weight)
        self.normalize = normalize
        self.sample_size = sample_size
        self.seed = seed
        # Created here, not lazily in call(): a metric born inside a traced call (as add_metric
        # would make) cannot be saved in a SavedModel.
        self.value_tracker = tf_keras.metrics.Mean(name=self.name)

    def penalty(self, experts: tf.Tensor) -> tf.Tensor:
        """The unweighted loss on (a sub-sample of) the batch."""
        return cross_expert_covariance(subsample_rows(experts, self.sample_size, self.seed),
                                       self.normalize)

    def call(self, experts, training=None):
        if self.weight > 0 and is_training(training):
            value = self.penalty(experts)
            self.add_loss(self.weight * value)
            self.value_tracker.update_state(value)
        return tf.identity(experts)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "normalize": self.normalize,
                "sample_size": self.sample_size, "seed": self.seed}
