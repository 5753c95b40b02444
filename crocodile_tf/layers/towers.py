"""Domain towers (SPEC §2, eq. 6): one MLP per domain; each sample is scored by its own."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.layers.gates import own_domain
from crocodile_tf.layers.mlp import glorot_limit, validate_rate, validate_units

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


@_SERIALIZABLE
class DomainTowers(tf_keras.layers.Layer):
    """S towers `sigmoid(MLP_s(t^s))`; output [B, 1] from the sample's own domain's tower.

    Call as `towers([x, domain])`. `x` is either one input per sample [B, n] (the own-domain
    mixture from a gate, or a shared bottom) or per-domain inputs [B, S, n] (tower s reads
    slice s). The S towers' weights are stacked [S, in, out] and evaluated with one einsum per
    layer; the output of the sample's own domain is then selected, so tower s receives gradient
    only from domain-s samples.

    Args:
      num_domains: S.
      units: hidden widths; a final 1-unit layer is added.
      activation: hidden activation.
      dropout: dropout after hidden layers.
      output_logits: return the logit instead of the probability.
    """

    def __init__(self, num_domains: int, units: Sequence[int] = (64,), activation: str = "relu",
                 dropout: float = 0.0, output_logits: bool = False, kernel_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
            raise ValueError(f"DomainTowers: num_domains must be an int >= 1, got {num_domains!r}.")
        self.num_domains = int(num_domains)
        self.units = validate_units("DomainTowers", units) if units else ()
        self.activation_name = activation
        self.activation = tf_keras.activations.get(activation)
        self.dropout = validate_rate("DomainTowers", dropout)
        self.output_logits = bool(output_logits)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
        self.dropout_layer = tf_keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape):
        x_shape = tf.TensorShape(input_shape[0])
        if x_shape.rank == 3 and x_shape[1] != self.num_domains:
            raise ValueError(f"DomainTowers: per-domain input has {x_shape[1]} slices for "
                             f"num_domains={self.num_domains}.")
        fan_in = int(x_shape[-1])
        self.kernels, self.biases = [], []
        for i, out in enumerate(self.units + (1,)):
            limit = glorot_limit(fan_in, out)
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=(self.num_domains, fan_in, out),
                initializer=tf_keras.initializers.RandomUniform(-limit, limit),
                regularizer=self.kernel_regularizer))
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(self.num_domains, out),
                                               initializer="zeros"))
            fan_in = out
        super().build(input_shape)

    def call(self, inputs, training=None):
        x, domain = inputs
        last = len(self.kernels) - 1
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            if x.shape.rank == 2:
                x = tf.einsum("bi,sio->bso", x, kernel)
            else:
                x = tf.einsum("bsi,sio->bso", x, kernel)
            x = x + bias
            if i < last:
                x = self.activation(x)
                if self.dropout:
                    x = self.dropout_layer(x, training=training)
        logit = tf.cast(own_domain(x, domain), tf.float32)  # [B, 1]
        return logit if self.output_logits else tf.nn.sigmoid(logit)

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "units": list(self.units),
                "activation": self.activation_name, "dropout": self.dropout,
                "output_logits": self.output_logits,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}
