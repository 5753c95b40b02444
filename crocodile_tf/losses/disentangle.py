"""The other disentangling terms of Table 4, interchangeable with CovLoss in Crocodile.

Each is an `add_loss` layer with CovLoss's constructor (weight, normalize, sample_size, seed) and
behaviour: identity at inference, `weight * value` added and the value reported as a metric in
training only. Expert outputs O are [N, K, d]; sums run over the K(K-1)/2 pairs p > q.

    dot         (Wu et al., 2021)         sum_{p>q} mean_n |<O_n^p, O_n^q>| / d
    cos         (Liu et al., 2021)        sum_{p>q} mean_n |cos(O_n^p, O_n^q)|
    dcorr       (Liu et al., 2022)        sum_{p>q} dCor^2(O^p, O^q)   over the N rows
    ole         (Lezama et al., 2018)     sum_p ||O^p||_* - ||[O^1; ...; O^K]||_*
    importance  (Shazeer et al., 2017)    CV^2 of the experts' importance (gate mass)

Choices, the papers leaving them open for expert outputs: dot divides by d so that the term is a
mean per-dimension product; dCor^2 is Székely's squared distance correlation (V-statistic, double
centred distance matrices), squared because dCor's square root has no gradient at 0; OLE treats
each expert's outputs as one class (its paper's per-class matrices) with the lower bound delta = 0,
and uses the subgradient U V^T of the nuclear norm (the SVD's own gradient is NaN when singular
values repeat, e.g. at 0 for dead ReLU units). Importance reads the gate weights, not expert
outputs: importance_p = sum over rows (and over the d elements of an element-wise gate) of the
weight of expert p; CV = population std / mean over the K experts.
`normalize` is CovLoss's option only (the other terms are already means or ratios).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.losses.covariance import (CrossExpertCovariance, _pairs, is_training,
                                            subsample_rows)

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def _pair_slices(experts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(O^p, O^q) for every pair p > q: two [N, P, d] tensors."""
    p, q = _pairs(experts.shape[1])
    return tf.gather(experts, p, axis=1), tf.gather(experts, q, axis=1)


def dot_product_loss(experts: tf.Tensor) -> tf.Tensor:
    experts = tf.cast(experts, tf.float32)
    if experts.shape[1] < 2:
        return tf.constant(0.0)
    a, b = _pair_slices(experts)
    dots = tf.reduce_sum(a * b, axis=-1)                                   # [N, P]
    return tf.reduce_sum(tf.reduce_mean(tf.abs(dots), axis=0)) / float(experts.shape[2])


def cosine_loss(experts: tf.Tensor, epsilon: float = 1e-8) -> tf.Tensor:
    experts = tf.cast(experts, tf.float32)
    if experts.shape[1] < 2:
        return tf.constant(0.0)
    a, b = _pair_slices(experts)
    norms = tf.norm(a, axis=-1) * tf.norm(b, axis=-1)
    cosine = tf.reduce_sum(a * b, axis=-1) / tf.maximum(norms, epsilon)
    return tf.reduce_sum(tf.reduce_mean(tf.abs(cosine), axis=0))


def _safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """sqrt with a zero (not infinite) gradient at 0: pairwise distances of a row to itself."""
    positive = x > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, x, 1.0)), 0.0)


def _double_centered_distances(x: tf.Tensor) -> tf.Tensor:
    """[K, N, N]: per expert, the double-centred Euclidean distance matrix of its N rows."""
    x = tf.transpose(x, [1, 0, 2])                                          # [K, N, d]
    sq = tf.reduce_sum(tf.square(x), axis=-1)
    gram = tf.matmul(x, x, transpose_b=True)
    dist = _safe_sqrt(tf.maximum(sq[:, :, None] + sq[:, None, :] - 2.0 * gram, 0.0))
    return (dist - tf.reduce_mean(dist, axis=1, keepdims=True)
            - tf.reduce_mean(dist, axis=2, keepdims=True)
            + tf.reduce_mean(dist, axis=[1, 2], keepdims=True))


def distance_correlation_loss(experts: tf.Tensor, epsilon: float = 1e-12) -> tf.Tensor:
    experts = tf.cast(experts, tf.float32)
    if experts.shape[1] < 2:
        return tf.constant(0.0)
    centered = _double_centered_distances(experts)                           # [K, N, N]
    dcov = tf.einsum("pij,qij->pq", centered, centered) / tf.cast(tf.shape(experts)[0] ** 2,
                                                                    tf.float32)
    variance = tf.linalg.diag_part(dcov)
    dcor2 = dcov / tf.sqrt(tf.maximum(variance[:, None] * variance[None, :], epsilon))
    p, q = _pairs(experts.shape[1])
    return tf.reduce_sum(tf.gather_nd(dcor2, np.stack([p, q], axis=1)))


@tf.custom_gradient
def nuclear_norm(matrix: tf.Tensor):
    """||A||_* (sum of singular values) of a 2-D matrix, with the subgradient U V^T."""
    s, u, v = tf.linalg.svd(matrix, full_matrices=False)

    def grad(upstream):
        return upstream * tf.matmul(u, v, transpose_b=True)

    return tf.reduce_sum(s), grad


def ole_loss(experts: tf.Tensor) -> tf.Tensor:
    experts = tf.cast(experts, tf.float32)
    num_experts = experts.shape[1]
    if num_experts < 2:
        return tf.constant(0.0)
    per_expert = tf.add_n([nuclear_norm(experts[:, p]) for p in range(num_experts)])
    stacked = tf.reshape(tf.transpose(experts, [1, 0, 2]), [-1, experts.shape[2]])
    return per_expert - nuclear_norm(stacked)


def importance_loss(gate_weights: tf.Tensor) -> tf.Tensor:
    """CV^2 of the expert importances of gate weights [N, K] or [N, K, d]."""
    weights = tf.cast(gate_weights, tf.float32)
    axes = [0] + list(range(2, weights.shape.rank))
    importance = tf.reduce_sum(weights, axis=axes)                           # [K]
    mean = tf.reduce_mean(importance)
    variance = tf.reduce_mean(tf.square(importance - mean))
    return tf.math.divide_no_nan(variance, tf.square(mean))


class _DisentangleLayer(CrossExpertCovariance):
    """CovLoss's layer contract with another penalty on the expert outputs."""

    penalty_fn = None

    def __init__(self, weight: float = 1e-4, normalize: str | None = None,
                 sample_size: int | None = None, seed: int | None = None, **kwargs):
        if normalize is not None:
            raise ValueError(f"{type(self).__name__}: normalize={normalize!r} applies to CovLoss "
                             "only; this term is already a mean or a ratio (use None).")
        super().__init__(weight=weight, normalize=None, sample_size=sample_size, seed=seed, **kwargs)

    def penalty(self, experts: tf.Tensor) -> tf.Tensor:
        return type(self).penalty_fn(subsample_rows(experts, self.sample_size, self.seed))


@_SERIALIZABLE
class DotProductLoss(_DisentangleLayer):
    """`weight * sum_{p>q} mean_n |<O_n^p, O_n^q>| / d` on expert outputs [B, K, d]."""
    penalty_fn = staticmethod(dot_product_loss)


@_SERIALIZABLE
class CosineLoss(_DisentangleLayer):
    """`weight * sum_{p>q} mean_n |cos(O_n^p, O_n^q)|` on expert outputs [B, K, d]."""
    penalty_fn = staticmethod(cosine_loss)


@_SERIALIZABLE
class DistanceCorrelationLoss(_DisentangleLayer):
    """`weight * sum_{p>q} dCor^2(O^p, O^q)` on expert outputs [B, K, d] (O(B^2) per expert)."""
    penalty_fn = staticmethod(distance_correlation_loss)


@_SERIALIZABLE
class OLELoss(_DisentangleLayer):
    """`weight * (sum_p ||O^p||_* - ||[O^1; ...; O^K]||_*)` on expert outputs [B, K, d]."""
    penalty_fn = staticmethod(ole_loss)


@_SERIALIZABLE
class ImportanceLoss(_DisentangleLayer):
    """MoE load balancing (Shazeer et al., 2017): `weight * CV(importance)^2` of the gate weights.

    Reads gate weights, not expert outputs (`reads_gate_weights`): call it on
    `[gate_weights, x]` to compute the loss on the weights and pass `x` through unchanged (so the
    layer lies on the path to the model's output), or on the weights alone.
    """

    reads_gate_weights = True
    penalty_fn = staticmethod(importance_loss)

    def call(self, inputs, training=None):
        weights, passthrough = (inputs if isinstance(inputs, (list, tuple)) else (inputs, inputs))
        if self.weight > 0 and is_training(training):
            value = self.penalty(weights)
            self.add_loss(self.weight * value)
            self.add_metric(value, name=self.name)
        return tf.identity(passthrough)
