"""Dense blocks: a plain MLP and a bank of K expert MLPs evaluated as one batched matmul."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def validate_units(layer: str, units) -> tuple[int, ...]:
    units = tuple(units) if units is not None else ()
    if not units or any((not isinstance(u, (int, np.integer))) or u < 1 for u in units):
        raise ValueError(f"{layer}: units must be a non-empty list of positive ints, got {list(units)}.")
    return tuple(int(u) for u in units)


def validate_rate(layer: str, rate) -> float:
    if not 0.0 <= float(rate) < 1.0:
        raise ValueError(f"{layer}: dropout must be in [0, 1), got {rate}.")
    return float(rate)


@_SERIALIZABLE
class MLP(tf_keras.layers.Layer):
    """Stack of Dense layers, `activation` after each (the last one too unless
    `activate_output=False`), with optional dropout after each hidden activation."""

    def __init__(self, units: Sequence[int], activation: str = "relu", activate_output: bool = True,
                 dropout: float = 0.0, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = validate_units(type(self).__name__, units)
        self.activation = activation
        tf_keras.activations.get(activation)  # fail early on unknown names
        self.activate_output = bool(activate_output)
        self.dropout = validate_rate(type(self).__name__, dropout)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
        last = len(self.units) - 1
        self.dense_layers = [
            tf_keras.layers.Dense(u, activation=activation if (i < last or self.activate_output) else None,
                                  kernel_regularizer=self.kernel_regularizer, name=f"dense_{i}")
            for i, u in enumerate(self.units)]
        self.dropout_layers = [tf_keras.layers.Dropout(self.dropout)
                               for _ in self.units[:-1]] if self.dropout else []

    def call(self, inputs, training=None):
        x = inputs
        for i, dense in enumerate(self.dense_layers):
            x = dense(x)
            if self.dropout and i < len(self.dropout_layers):
                x = self.dropout_layers[i](x, training=training)
        return x

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "activation": self.activation,
                "activate_output": self.activate_output, "dropout": self.dropout,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}


def glorot_limit(fan_in: int, fan_out: int) -> float:
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


@_SERIALIZABLE
class ExpertBank(tf_keras.layers.Layer):
    """K expert MLPs (SPEC §2, eq. 5): `O^(p) = MLP_p(x^(p))`, output [B, K, d], d = units[-1].

    Input: `[B, K, n]` (expert p reads slice p: Crocodile's expert p reads embedding table p),
    a list of K tensors `[B, n]`, or one shared `[B, n]` tensor that every expert reads (MMoE).
    The K experts' weights are stacked `[K, in, out]` and applied with one einsum per layer rather
    than K separate Dense layers; each expert still has its own weights and Glorot-uniform init.
    ReLU (`activation`) follows every layer, the output layer included.
    """

    def __init__(self, num_experts: int, units: Sequence[int], activation: str = "relu",
                 dropout: float = 0.0, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_experts, (int, np.integer)) or num_experts < 1:
            raise ValueError(f"ExpertBank: num_experts must be an int >= 1, got {num_experts!r}.")
        self.num_experts = int(num_experts)
        self.units = validate_units("ExpertBank", units)
        self.activation_name = activation
        self.activation = tf_keras.activations.get(activation)
        self.dropout = validate_rate("ExpertBank", dropout)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
        self.dropout_layer = tf_keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
                input_shape[0], (list, tuple, tf.TensorShape)):
            if len(input_shape) != self.num_experts:
                raise ValueError(
                    f"ExpertBank: got {len(input_shape)} inputs for num_experts={self.num_experts}.")
            input_shape = tf.TensorShape(input_shape[0])
        input_shape = tf.TensorShape(input_shape)
        if input_shape.rank == 3 and input_shape[1] != self.num_experts:
            raise ValueError(f"ExpertBank: input has {input_shape[1]} slices for "
                             f"num_experts={self.num_experts} (shape {input_shape}).")
        fan_in = int(input_shape[-1])
        self.kernels, self.biases = [], []
        for i, out in enumerate(self.units):
            self.kernels.append(self.add_weight(
                name=f"kernel_{i}", shape=(self.num_experts, fan_in, out),
                initializer=tf_keras.initializers.RandomUniform(-glorot_limit(fan_in, out),
                                                                 glorot_limit(fan_in, out)),
                regularizer=self.kernel_regularizer))
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(self.num_experts, out),
                                               initializer="zeros"))
            fan_in = out
        super().build(input_shape)

    def call(self, inputs, training=None):
        # Works expert-major ([K, B, n]) so that every layer is one batched GEMM with no layout
        # change in between; a shared input's first layer is one [B, n] x [n, K * out] GEMM.
        # (bench/layers_bench.py measures it against one einsum per layer.)
        if isinstance(inputs, (list, tuple)):
            x = tf.stack(inputs, axis=0)
        elif inputs.shape.rank == 3:
            x = tf.transpose(inputs, [1, 0, 2])
        else:
            x = inputs
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            if x.shape.rank == 2:  # shared input, first layer only
                fan_in, out = kernel.shape[1], kernel.shape[2]
                wide = tf.reshape(tf.transpose(kernel, [1, 0, 2]), [fan_in, self.num_experts * out])
                x = tf.transpose(tf.reshape(tf.matmul(x, wide), [-1, self.num_experts, out]), [1, 0, 2])
            else:
                x = tf.matmul(x, kernel)
            x = self.activation(x + bias[:, None, :])
            if self.dropout and i < len(self.units) - 1:
                x = self.dropout_layer(x, training=training)
        return tf.transpose(x, [1, 0, 2])  # [B, K, d]

    def get_config(self):
        return {**super().get_config(), "num_experts": self.num_experts, "units": list(self.units),
                "activation": self.activation_name, "dropout": self.dropout,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}
