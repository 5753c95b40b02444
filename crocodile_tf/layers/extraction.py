"""Expert-selection layers of the baselines with shared and domain-owned experts.

* `SubsetGate`: G softmax gates, gate g mixing only its own subset of the experts (PLE's
  customized gate control, HiNet's shared and specific gates, SDEM's all-forward gate).
* `SelectSlices`: fixed slices of a [B, T, n] tensor (which table or which gate output feeds which
  expert or gate), optionally merged into one [B, G, A * n] input per gate.
* `OwnDomainSelect`: the own-domain slice of a per-domain tensor [B, S, ...].
* `OtherDomainStopGradient`: SDEM/STEM's stop-gradient on other domains' embeddings.
* `ScenarioAttention`: HiNet's scenario-aware attentive network.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from crocodile_tf.layers.gates import own_domain

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def _validate_index(layer: str, expert_index) -> tuple[tuple[int, ...], ...]:
    rows = tuple(tuple(int(i) for i in row) for row in expert_index)
    if not rows or not rows[0]:
        raise ValueError(f"{layer}: expert_index must be a non-empty list of non-empty rows, "
                         f"got {expert_index!r}.")
    if len({len(r) for r in rows}) != 1:
        raise ValueError(f"{layer}: every row of expert_index must have the same length, got "
                         f"lengths {[len(r) for r in rows]}.")
    if min(min(r) for r in rows) < 0:
        raise ValueError(f"{layer}: expert_index must hold non-negative indices, got {expert_index!r}.")
    return rows


@_SERIALIZABLE
class SubsetGate(tf_keras.layers.Layer):
    """G softmax gates over subsets of the experts: gate g mixes experts `expert_index[g]` only.

    Call as `gate([gate_input, experts])`, or `gate([gate_input, experts, domain])` with
    `own_domain=True`. `gate_input` is [B, n] (every gate reads it) or [B, G, n] (gate g reads
    slice g); `experts` is [B, E, d]. Gate g computes `w = softmax(x_g W_g + b_g)` over its A
    experts and returns `sum_a w_a * O_{expert_index[g][a]}`.

    Output: [B, G, d], or with `own_domain=True` (the G gates are the S domains) only the gate of
    each sample's own domain, [B, d]: the other gates' logits are computed (cheap) but their
    mixtures are not. An expert outside gate g's subset gets exactly zero gradient through gate g:
    it is never gathered. A gate over a single expert is that expert (no parameters).

    Args:
      expert_index: G rows of A expert indices each.
      own_domain: return the own-domain gate's mixture only.
      return_weights: also return the weights ([B, G, A] or [B, A]).
    """

    def __init__(self, expert_index: Sequence[Sequence[int]], own_domain: bool = False,
                 return_weights: bool = False, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.expert_index = _validate_index(type(self).__name__, expert_index)
        self.own_domain = bool(own_domain)
        self.return_weights = bool(return_weights)
        self.kernel_regularizer = tf_keras.regularizers.get(kernel_regularizer)
        self.num_gates = len(self.expert_index)
        self.arity = len(self.expert_index[0])

    def build(self, input_shape):
        expected = 3 if self.own_domain else 2
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            raise ValueError(f"{type(self).__name__} expects [gate_input, experts"
                             f"{', domain' if self.own_domain else ''}].")
        gate_shape, expert_shape = tf.TensorShape(input_shape[0]), tf.TensorShape(input_shape[1])
        num_experts = expert_shape[1]
        if expert_shape.rank != 3:
            raise ValueError(f"{type(self).__name__}: experts must be [B, E, d], got {expert_shape}.")
        largest = max(max(r) for r in self.expert_index)
        if largest >= num_experts:
            raise ValueError(f"{type(self).__name__}: expert_index refers to expert {largest} but "
                             f"there are {num_experts} experts.")
        if gate_shape.rank == 3 and gate_shape[1] != self.num_gates:
            raise ValueError(f"{type(self).__name__}: per-gate input has {gate_shape[1]} slices for "
                             f"{self.num_gates} gates.")
        if self.arity > 1:
            in_dim = int(gate_shape[-1])
            self.kernel = self.add_weight(
                name="kernel", shape=(self.num_gates, in_dim, self.arity),
                initializer=tf_keras.initializers.RandomUniform(
                    -np.sqrt(6.0 / (in_dim + self.arity)), np.sqrt(6.0 / (in_dim + self.arity))),
                regularizer=self.kernel_regularizer)
            self.bias = self.add_weight(name="bias", shape=(self.num_gates, self.arity),
                                        initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        gate_input, experts = inputs[0], inputs[1]
        index = tf.constant(self.expert_index, dtype=tf.int32)              # [G, A]
        if self.own_domain:
            domain = tf.reshape(tf.cast(inputs[2], tf.int32), [-1])
            chosen = tf.gather(experts, tf.gather(index, domain), axis=1, batch_dims=1)  # [B, A, d]
        else:
            chosen = tf.gather(experts, index, axis=1)                      # [B, G, A, d]
        if self.arity == 1:
            weights = tf.ones_like(chosen[..., 0])
        else:
            equation = "bn,gna->bga" if gate_input.shape.rank == 2 else "bgn,gna->bga"
            logits = tf.einsum(equation, gate_input, self.kernel) + self.bias
            if self.own_domain:
                logits = own_domain(logits, domain)                         # [B, A]
            weights = tf.nn.softmax(logits, axis=-1)
        mixture = tf.reduce_sum(weights[..., None] * chosen, axis=-2)
        return (mixture, weights) if self.return_weights else mixture

    def get_config(self):
        return {**super().get_config(), "expert_index": [list(r) for r in self.expert_index],
                "own_domain": self.own_domain, "return_weights": self.return_weights,
                "kernel_regularizer": tf_keras.regularizers.serialize(self.kernel_regularizer)}


@_SERIALIZABLE
class SelectSlices(tf_keras.layers.Layer):
    """`x[:, index]` for x [B, T, n]: [B, len(index), n], or with a 2-D `index` [G, A] and
    `merge=True` the A slices of each row concatenated, [B, G, A * n]."""

    def __init__(self, index, merge: bool = False, **kwargs):
        super().__init__(**kwargs)
        array = np.asarray(index, dtype=np.int64)
        if array.size == 0 or array.ndim not in (1, 2) or array.min() < 0:
            raise ValueError(f"SelectSlices: index must be a non-empty 1-D or 2-D list of "
                             f"non-negative ints, got {index!r}.")
        if merge and array.ndim != 2:
            raise ValueError("SelectSlices: merge=True needs a 2-D index [G, A].")
        self.index = array.tolist()
        self.merge = bool(merge)

    def call(self, x):
        out = tf.gather(x, tf.constant(self.index, dtype=tf.int32), axis=1)
        if self.merge:
            groups, arity = len(self.index), len(self.index[0])
            out = tf.reshape(out, [-1, groups, arity * x.shape[-1]])
        return out

    def get_config(self):
        return {**super().get_config(), "index": self.index, "merge": self.merge}


@_SERIALIZABLE
class OwnDomainSelect(tf_keras.layers.Layer):
    """Call on `[per_domain [B, S, ...], domain [B]]`: the slice of each sample's own domain."""

    def call(self, inputs):
        per_domain, domain = inputs
        return own_domain(per_domain, domain)


@_SERIALIZABLE
class OtherDomainStopGradient(tf_keras.layers.Layer):
    """SDEM / STEM's stop-gradient (Su et al., 2023): call on `[tables [B, shared + S, n], domain]`.

    The first `shared` slices (shared tables) pass unchanged. Slice `shared + s` (domain s's own
    table) passes unchanged for domain-s rows and through `stop_gradient` for every other row, so
    domain s's table is trained by domain-s samples only, while other domains may still read it.
    """

    def __init__(self, num_domains: int, shared: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
            raise ValueError(f"OtherDomainStopGradient: num_domains must be an int >= 1, got {num_domains!r}.")
        if not isinstance(shared, (int, np.integer)) or shared < 0:
            raise ValueError(f"OtherDomainStopGradient: shared must be an int >= 0, got {shared!r}.")
        self.num_domains = int(num_domains)
        self.shared = int(shared)

    def call(self, inputs):
        tables, domain = inputs
        domain = tf.reshape(tf.cast(domain, tf.int32), [-1])
        own = tf.one_hot(domain + self.shared, self.shared + self.num_domains, dtype=tables.dtype)
        keep = own + tf.concat([tf.ones([self.shared]), tf.zeros([self.num_domains])], 0)
        keep = keep[:, :, None]
        return keep * tables + (1.0 - keep) * tf.stop_gradient(tables)

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "shared": self.shared}


@_SERIALIZABLE
class ScenarioAttention(tf_keras.layers.Layer):
    """HiNet's scenario-aware attentive network, SAN (Zhou et al., SIGIR 2023).

    Call on `[scenario_embedding [B, n], specific [B, S, d], domain [B]]`. The current scenario's
    embedding gives attention logits over the S scenarios, `a = softmax_{j != s}(e_s W + b)`, and
    the output `sum_{j != s} a_j V_j` [B, d] brings in the other scenarios' specific
    representations (zeros when S = 1).
    """

    def __init__(self, num_domains: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
            raise ValueError(f"ScenarioAttention: num_domains must be an int >= 1, got {num_domains!r}.")
        self.num_domains = int(num_domains)
        self.dense = tf_keras.layers.Dense(self.num_domains, name="attention")

    def call(self, inputs):
        scenario, specific, domain = inputs
        if self.num_domains == 1:
            return tf.zeros_like(specific[:, 0])
        domain = tf.reshape(tf.cast(domain, tf.int32), [-1])
        own = tf.one_hot(domain, self.num_domains)
        logits = self.dense(scenario) - 1e9 * own
        weights = tf.nn.softmax(logits, axis=-1)
        return tf.einsum("bs,bsd->bd", weights, specific)

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains}
