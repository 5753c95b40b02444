"""Per-domain expert gates: MMoE's scalar gate, the prior gate (pg) and PeG (SPEC §5).

Every gate is called as `gate([gate_input, experts, domain])` with `experts` [B, K, d] and
`domain` the int domain index [B], and returns the mixture `t^s` [B, d] for each sample's own
domain s only. A sample's loss depends only on its own domain's tower, so its own mixture is all
training and serving need. The own domain's logits come from one matmul of a block input: the
gate input placed in block s of an [B, S * l] row (zeros elsewhere) times the S stacked
per-domain kernels [S * l, width]. This never materialises the [B, S, K, d] logits of all domains
nor gathers from them, and runs the softmax and the K-way mixture once per sample instead of S
times (bench/layers_bench.py: about 2x faster than all-domains-then-select for PeG at S = 5).
`return_weights=True` also returns the gate weights ([B, K] for scalar gates, [B, K, d] for PeG),
which the Importance loss and the analysis read.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def own_domain(per_domain: tf.Tensor, domain: tf.Tensor) -> tf.Tensor:
    """Row k of `per_domain` [B, S, ...] at domain[k] -> [B, ...]."""
    domain = tf.cast(domain, tf.int32)
    if domain.shape.rank == 2:
        domain = tf.squeeze(domain, axis=1)
    return tf.gather(per_domain, domain, axis=1, batch_dims=1)


def own_domain_logits(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, domain: tf.Tensor,
                      num_domains: int) -> tf.Tensor:
    """`x W^s + b^s` for each row's own domain s, with W = kernel [l, S * width] (domain-major
    columns) and b = bias [S * width]; returns [B, width]."""
    in_dim = x.shape[-1]
    width = kernel.shape[-1] // num_domains
    domain = tf.cast(domain, tf.int32)
    if domain.shape.rank == 2:
        domain = tf.squeeze(domain, axis=1)
    onehot = tf.one_hot(domain, num_domains, dtype=x.dtype)                       # [B, S]
    blocks = tf.reshape(onehot[:, :, None] * x[:, None, :], [-1, num_domains * in_dim])
    stacked = tf.reshape(tf.transpose(tf.reshape(kernel, [in_dim, num_domains, width]), [1, 0, 2]),
                         [num_domains * in_dim, width])
    return tf.matmul(blocks, stacked) + tf.matmul(onehot, tf.reshape(bias, [num_domains, width]))


class _Gate(tf_keras.layers.Layer):
    """Shared argument handling: K experts of width d, S domains."""

    def __init__(self, num_experts: int, num_domains: int, return_weights: bool = False,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(num_experts, (int, np.integer)) or num_experts < 1:
            raise ValueError(f"{name}: num_experts must be an int >= 1, got {num_experts!r}.")
        if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
            raise ValueError(f"{name}: num_domains must be an int >= 1, got {num_domains!r}.")
        self.num_experts = int(num_experts)
        self.num_domains = int(num_domains)
        self.return_weights = bool(return_weights)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} expects [gate_input, experts, domain].")
        gate_shape, expert_shape = tf.TensorShape(input_shape[0]), tf.TensorShape(input_shape[1])
        if expert_shape.rank != 3 or expert_shape[1] != self.num_experts:
            raise ValueError(f"{type(self).__name__}: experts must be [B, {self.num_experts}, d], "
                             f"got {expert_shape}.")
        return int(gate_shape[-1]), int(expert_shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts,
                "num_domains": self.num_domains, "return_weights": self.return_weights,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}


@_SERIALIZABLE
class MMoEGate(_Gate):
    """MMoE gate per domain (Ma et al., KDD 2018): `softmax_K(x W^s + b^s)`, one scalar per expert.

    `gate_input` is the embedding input (the concatenated embeddings for ME-MMoE, SPEC §5).
    """

    def build(self, input_shape):
        in_dim, _ = self._check_shapes(input_shape)
        self.kernel = self.add_weight(name="kernel", shape=(in_dim, self.num_domains * self.num_experts),
                                      initializer="glorot_uniform",
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(self.num_domains * self.num_experts,),
                                    initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        gate_input, experts, domain = inputs
        logits = own_domain_logits(gate_input, self.kernel, self.bias, domain, self.num_domains)
        weights = tf.nn.softmax(logits, axis=-1)  # [B, K]
        mixture = tf.einsum("bk,bkd->bd", weights, experts)
        return (mixture, weights) if self.return_weights else mixture


@_SERIALIZABLE
class PriorGate(MMoEGate):
    """Prior-informed gate `pg` (Table 5): the MMoE gate fed the prior embeddings r instead of the
    feature embeddings; W in R^{l x K} per domain, one scalar per expert."""


@_SERIALIZABLE
class PriorElementwiseGate(_Gate):
    """Prior-informed element-wise gate, PeG (SPEC §5, eq. 9-11).

    Per domain s: `g^s = softmax over K of reshape(r W_g^s + b^s, [K, d])`, separately for each of
    the d elements, and `t^s = sum_p g^s[p, :] * O^(p)`. `W_g^s` is in R^{l x K x d}.
    """

    def build(self, input_shape):
        in_dim, self.expert_dim = self._check_shapes(input_shape)
        width = self.num_domains * self.num_experts * self.expert_dim
        self.kernel = self.add_weight(name="kernel", shape=(in_dim, width),
                                      initializer="glorot_uniform",
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(width,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        prior, experts, domain = inputs
        logits = own_domain_logits(prior, self.kernel, self.bias, domain, self.num_domains)
        logits = tf.reshape(logits, [-1, self.num_experts, self.expert_dim])
        weights = tf.nn.softmax(logits, axis=1)  # [B, K, d], softmax over K
        mixture = tf.reduce_sum(weights * experts, axis=1)
        return (mixture, weights) if self.return_weights else mixture
