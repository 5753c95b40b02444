"""The task loss of eq. 8: per-domain mean binary cross-entropy, summed over domains.

    L_bce = sum_s (1 / N_s) * sum_{k in domain s} BCE(y_hat_k, y_k)

summed over the domains present in the batch (an absent domain contributes nothing), so a small
domain weighs as much as a large one in every batch rather than in proportion to its traffic.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras


def domain_bce(labels: tf.Tensor, probabilities: tf.Tensor, domain: tf.Tensor, num_domains: int,
               epsilon: float = 1e-7) -> tf.Tensor:
    """Per-domain mean BCE summed over the domains present. Inputs of shape [B] or [B, 1]."""
    labels = tf.reshape(tf.cast(labels, tf.float32), [-1])
    p = tf.clip_by_value(tf.reshape(tf.cast(probabilities, tf.float32), [-1]), epsilon, 1.0 - epsilon)
    domain = tf.reshape(tf.cast(domain, tf.int32), [-1])
    bce = -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log(1.0 - p))
    sums = tf.math.unsorted_segment_sum(bce, domain, num_domains)
    counts = tf.math.unsorted_segment_sum(tf.ones_like(bce), domain, num_domains)
    return tf.reduce_sum(tf.math.divide_no_nan(sums, counts))


@tf_keras.utils.register_keras_serializable(package="crocodile_tf")
class DomainBCE(tf_keras.layers.Layer):
    """`domain_bce` as a layer: call on `[labels, probabilities, domain]`, returns the scalar.

    `MultiDomainModel` uses it as its training loss; in a custom functional model, feed the labels
    as an input and pass the result to `model.add_loss`.
    """

    def __init__(self, num_domains: int, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_domains, (int, np.integer)) or num_domains < 1:
            raise ValueError(f"DomainBCE: num_domains must be an int >= 1, got {num_domains!r}.")
        if not 0 < epsilon < 0.5:
            raise ValueError(f"DomainBCE: epsilon must be in (0, 0.5), got {epsilon!r}.")
        self.num_domains = int(num_domains)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        labels, probabilities, domain = inputs
        return domain_bce(labels, probabilities, domain, self.num_domains, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "num_domains": self.num_domains, "epsilon": self.epsilon}
