"""Per-domain networks: S MLPs where each sample runs through its own domain's only (Single-Domain,
STAR's star-topology FCN) and STAR's partitioned normalization.

`PerDomainMLP` partitions the batch by domain (`tf.dynamic_partition`), runs each part through its
domain's weights and stitches the rows back in order, so the cost is one MLP per sample rather
than S (evaluating all S MLPs and gathering the own one would cost S times as much).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.layers.mlp import glorot_limit, validate_rate, validate_units
from crocodile_tf.losses.covariance import is_training

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def _domains(layer: str, num_domains) -> int:
    if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
        raise ValueError(f"{layer}: num_domains must be an int >= 1, got {num_domains!r}.")
    return int(num_domains)


@_SERIALIZABLE
class PerDomainMLP(tf_keras.layers.Layer):
    """S independent MLPs; call on `[x [B, n], domain [B]]`, sample k runs through MLP `domain[k]`.

    With `star=True` this is STAR's star-topology FCN (Sheng et al., CIKM 2021, eq. 2): every layer
    has shared weights W, b and per-domain weights W_s, b_s, and domain s uses
    `W_s ⊙ W` (element-wise) and `b_s + b`. The shared kernels start Glorot-uniform and the
    domain kernels at ones, so training starts from one shared network (a product of two Glorot
    matrices would start near zero).

    Args:
      num_domains: S.
      units: layer widths.
      activation: after every layer, the last one too unless `activate_output=False`.
      activate_output: apply the activation after the last layer.
      star: STAR's shared ⊙ specific weights.
      dropout: dropout after hidden activations.
    """

    def __init__(self, num_domains: int, units: Sequence[int], activation: str = "relu",
                 activate_output: bool = True, star: bool = False, dropout: float = 0.0,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.num_domains = _domains(name, num_domains)
        self.units = validate_units(name, units)
        self.activation_name = activation
        self.activation = tf_keras.activations.get(activation)
        self.activate_output = bool(activate_output)
        self.star = bool(star)
        self.dropout = validate_rate(name, dropout)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
        self.dropout_layer = tf_keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        fan_in = int(tf.TensorShape(input_shape[0])[-1])
        self.kernels, self.biases, self.shared_kernels, self.shared_biases = [], [], [], []
        for i, out in enumerate(self.units):
            limit = glorot_limit(fan_in, out)
            glorot = tf_keras.initializers.RandomUniform(-limit, limit)
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=(self.num_domains, fan_in, out),
                initializer="ones" if self.star else glorot, regularizer=self.kernel_regularizer))
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(self.num_domains, out),
                                               initializer="zeros"))
            if self.star:
                self.shared_kernels.append(self.add_weight(
                    name=f"shared_kernel_{i}", shape=(fan_in, out), initializer=glorot,
                    regularizer=self.kernel_regularizer))
                self.shared_biases.append(self.add_weight(name=f"shared_bias_{i}", shape=(out,),
                                                          initializer="zeros"))
            fan_in = out
        super().build(input_shape)

    def effective_weights(self) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """Per layer, the kernels [S, in, out] and biases [S, out] each domain really uses."""
        if not self.star:
            return list(zip(self.kernels, self.biases))
        return [(k * sk[None], b + sb[None]) for k, b, sk, sb in
                zip(self.kernels, self.biases, self.shared_kernels, self.shared_biases)]

    def call(self, inputs, training=None):
        x, domain = inputs
        domain = tf.reshape(tf.cast(domain, tf.int32), [-1])
        rows = tf.dynamic_partition(tf.range(tf.shape(x)[0]), domain, self.num_domains)
        parts = tf.dynamic_partition(x, domain, self.num_domains)
        weights = self.effective_weights()
        last = len(weights) - 1
        outputs = []
        for s, h in enumerate(parts):
            for i, (kernel, bias) in enumerate(weights):
                h = tf.matmul(h, kernel[s]) + bias[s]
                if i < last or self.activate_output:
                    h = self.activation(h)
                if self.dropout and i < last:
                    h = self.dropout_layer(h, training=training)
            outputs.append(h)
        out = tf.dynamic_stitch(rows, outputs)
        return tf.ensure_shape(out, [None, self.units[-1]])

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "units": list(self.units),
                "activation": self.activation_name, "activate_output": self.activate_output,
                "star": self.star, "dropout": self.dropout,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}


@_SERIALIZABLE
class PartitionedNormalization(tf_keras.layers.Layer):
    """STAR's partitioned normalization, PN (Sheng et al., CIKM 2021, eq. 1).

    Call on `[x [B, n], domain [B]]`:
    `z = (γ ⊙ γ_s) (x - μ_s) / sqrt(σ²_s + ε) + (β + β_s)` for a domain-s sample. In training,
    μ_s, σ²_s are the mean and variance of the batch's domain-s rows, and each domain's moving
    averages are updated from them (domains absent from the batch keep theirs); at inference the
    domain's moving averages are used.
    """

    def __init__(self, num_domains: int, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.num_domains = _domains(type(self).__name__, num_domains)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"PartitionedNormalization: momentum must be in [0, 1), got {momentum!r}.")
        if epsilon <= 0:
            raise ValueError(f"PartitionedNormalization: epsilon must be > 0, got {epsilon!r}.")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        width = int(tf.TensorShape(input_shape[0])[-1])
        s = self.num_domains
        self.gamma = self.add_weight(name="gamma", shape=(width,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(width,), initializer="zeros")
        self.domain_gamma = self.add_weight(name="domain_gamma", shape=(s, width), initializer="ones")
        self.domain_beta = self.add_weight(name="domain_beta", shape=(s, width), initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=(s, width),
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(s, width),
                                               initializer="ones", trainable=False)
        super().build(input_shape)

    def call(self, inputs, training=None):
        x, domain = inputs
        domain = tf.reshape(tf.cast(domain, tf.int32), [-1])
        if is_training(training):
            counts = tf.math.unsorted_segment_sum(tf.ones_like(x[:, :1]), domain, self.num_domains)
            mean = tf.math.divide_no_nan(
                tf.math.unsorted_segment_sum(x, domain, self.num_domains), counts)
            centered = x - tf.gather(mean, domain)
            variance = tf.math.divide_no_nan(
                tf.math.unsorted_segment_sum(tf.square(centered), domain, self.num_domains), counts)
            present = tf.cast(counts > 0, x.dtype)
            decay = (1.0 - self.momentum) * present
            self.moving_mean.assign_sub(decay * (self.moving_mean - mean))
            self.moving_variance.assign_sub(decay * (self.moving_variance - variance))
        else:
            mean, variance = self.moving_mean, self.moving_variance
            centered = x - tf.gather(mean, domain)
        scale = self.gamma * tf.gather(self.domain_gamma, domain)
        shift = self.beta + tf.gather(self.domain_beta, domain)
        return scale * centered * tf.math.rsqrt(tf.gather(variance, domain) + self.epsilon) + shift

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "momentum": self.momentum,
                "epsilon": self.epsilon}
