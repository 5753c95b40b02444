"""Prior-conditioned scaling of embeddings and hidden units: PEPNet's Gate NU, EPNet and PPNet
(Chang et al., KDD 2023) and AdaSparse's domain-adaptive neuron weighting (Yang et al., CIKM 2022).
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
import tf_keras

from crocodile_tf.layers.mlp import validate_rate, validate_units

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def _positive(layer: str, name: str, value) -> float:
    if not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a number > 0, got {value!r}.")
    return float(value)


@_SERIALIZABLE
class GateNU(tf_keras.layers.Layer):
    """PEPNet's Gate Neural Unit: `gamma * sigmoid(relu(x W1 + b1) W2 + b2)`, values in (0, gamma).

    Args:
      units: output width (the width of what the gate scales).
      hidden_units: width of the ReLU layer.
      scale: gamma (PEPNet: 2, so the gate is 1 at a zero logit and can amplify as well as damp).
    """

    def __init__(self, units: int, hidden_units: int, scale: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        validate_units("GateNU", [units, hidden_units])
        self.units = int(units)
        self.hidden_units = int(hidden_units)
        self.scale = _positive("GateNU", "scale", scale)
        self.hidden = tf_keras.layers.Dense(self.hidden_units, activation="relu", name="hidden")
        self.out = tf_keras.layers.Dense(self.units, name="out")

    def call(self, x):
        return self.scale * tf.nn.sigmoid(self.out(self.hidden(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden_units": self.hidden_units,
                "scale": self.scale}


@_SERIALIZABLE
class EPNet(tf_keras.layers.Layer):
    """PEPNet's Embedding Personalized Network: call on `[embeddings E [B, n], prior [B, m]]`.

    `O_ep = GateNU(concat(prior, stop_gradient(E))) ⊙ E`: the domain-side prior rescales every
    element of the shared embeddings; the stop-gradient keeps the gate from training E.
    """

    def __init__(self, hidden_units: int, scale: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = validate_units("EPNet", [hidden_units])[0]
        self.scale = _positive("EPNet", "scale", scale)

    def build(self, input_shape):
        width = int(tf.TensorShape(input_shape[0])[-1])
        self.gate = GateNU(width, self.hidden_units, self.scale, name="gate_nu")
        super().build(input_shape)

    def call(self, inputs):
        embeddings, prior = inputs
        gate = self.gate(tf.concat([prior, tf.stop_gradient(embeddings)], axis=-1))
        return gate * embeddings

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "scale": self.scale}


@_SERIALIZABLE
class PPNet(tf_keras.layers.Layer):
    """PEPNet's Parameter Personalized Network: an MLP whose every layer input is scaled by a
    Gate NU of the user/item prior. Call on `[x [B, n], prior [B, m]]`:

        g_l = GateNU_l(concat(prior, stop_gradient(x)));   h_{l+1} = act((g_l ⊙ h_l) W_l + b_l)

    with h_0 = x, ReLU after every layer (the last one too: the output feeds towers).
    """

    def __init__(self, units: Sequence[int], gate_hidden_units: int, scale: float = 2.0,
                 activation: str = "relu", dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = validate_units("PPNet", units)
        self.gate_hidden_units = validate_units("PPNet", [gate_hidden_units])[0]
        self.scale = _positive("PPNet", "scale", scale)
        self.activation = activation
        self.dropout = validate_rate("PPNet", dropout)
        self.dense_layers = [tf_keras.layers.Dense(u, activation=activation, name=f"dense_{i}")
                             for i, u in enumerate(self.units)]
        self.dropout_layer = tf_keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        widths = [int(tf.TensorShape(input_shape[0])[-1])] + list(self.units[:-1])
        self.gates = [GateNU(w, self.gate_hidden_units, self.scale, name=f"gate_nu_{i}")
                      for i, w in enumerate(widths)]
        super().build(input_shape)

    def call(self, inputs, training=None):
        x, prior = inputs
        gate_input = tf.concat([prior, tf.stop_gradient(x)], axis=-1)
        h = x
        for i, (gate, dense) in enumerate(zip(self.gates, self.dense_layers)):
            h = dense(gate(gate_input) * h)
            if self.dropout and i < len(self.dense_layers) - 1:
                h = self.dropout_layer(h, training=training)
        return h

    def get_config(self):
        return {**super().get_config(), "units": list(self.units),
                "gate_hidden_units": self.gate_hidden_units, "scale": self.scale,
                "activation": self.activation, "dropout": self.dropout}


@_SERIALIZABLE
class DomainAdaptiveMLP(tf_keras.layers.Layer):
    """AdaSparse's MLP with domain-adaptive neuron weighting factors (Yang et al., CIKM 2022).

    Call on `[x [B, n], domain_embedding [B, m]]`. Before every layer a pruner computes one
    factor per input neuron from the domain embedding and that layer's input,
    `π_l = alpha * sigmoid(beta * (concat(e_d, h_l) P_l + c_l))` (the paper's "Scaling" form), and
    the layer reads `π_l ⊙ h_l`: `h_{l+1} = act((π_l ⊙ h_l) W_l + b_l)`. ReLU after every layer.
    """

    def __init__(self, units: Sequence[int], alpha: float = 2.0, beta: float = 1.0,
                 activation: str = "relu", dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = validate_units("DomainAdaptiveMLP", units)
        self.alpha = _positive("DomainAdaptiveMLP", "alpha", alpha)
        self.beta = _positive("DomainAdaptiveMLP", "beta", beta)
        self.activation = activation
        self.dropout = validate_rate("DomainAdaptiveMLP", dropout)
        self.dense_layers = [tf_keras.layers.Dense(u, activation=activation, name=f"dense_{i}")
                             for i, u in enumerate(self.units)]
        self.dropout_layer = tf_keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        widths = [int(tf.TensorShape(input_shape[0])[-1])] + list(self.units[:-1])
        self.pruners = [tf_keras.layers.Dense(w, name=f"pruner_{i}") for i, w in enumerate(widths)]
        super().build(input_shape)

    def factors(self, pruner, domain_embedding, h):
        return self.alpha * tf.nn.sigmoid(self.beta * pruner(tf.concat([domain_embedding, h], -1)))

    def call(self, inputs, training=None):
        h, domain_embedding = inputs
        for i, (pruner, dense) in enumerate(zip(self.pruners, self.dense_layers)):
            h = dense(self.factors(pruner, domain_embedding, h) * h)
            if self.dropout and i < len(self.dense_layers) - 1:
                h = self.dropout_layer(h, training=training)
        return h

    def get_config(self):
        return {**super().get_config(), "units": list(self.units), "alpha": self.alpha,
                "beta": self.beta, "activation": self.activation, "dropout": self.dropout}
