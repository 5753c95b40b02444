"""`MultiDomainModel`: a functional Keras model trained with the per-domain BCE of eq. 8.

Every model of the zoo is a functional graph from the schema's inputs (a dict of int64 ids) to
the click probability [B, 1] of each sample's own domain, wrapped in this class so that `fit`
minimises `sum_s mean_{k in s} BCE + sum(model.losses)` (the `add_loss` terms: CovLoss and
friends, regularizers) instead of Keras' single global mean.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from tf_keras.src.engine import functional
from tf_keras.src.saving.legacy import serialization

from crocodile_tf.losses.domain_bce import domain_bce


@tf_keras.utils.register_keras_serializable(package="crocodile_tf")
class MultiDomainModel(tf_keras.Model):
    """Functional model with the multi-domain training loss.

    Args:
      inputs: dict of `tf_keras.Input`, one per schema field.
      outputs: probability tensor [B, 1].
      domain_field: name of the input holding the domain index.
      num_domains: S.

    If `compile` is given a `loss`, that loss replaces the per-domain BCE (e.g. to train with
    Keras' global-mean BCE for comparison); the `add_loss` terms are added either way.
    """

    def __init__(self, inputs, outputs, domain_field: str, num_domains: int, name=None, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if domain_field not in self.input_names:
            raise ValueError(f"MultiDomainModel: domain_field {domain_field!r} is not an input; "
                             f"inputs are {self.input_names}.")
        self.domain_field = domain_field
        self.num_domains = int(num_domains)
        self.loss_tracker = tf_keras.metrics.Mean(name="loss")
        self.bce_tracker = tf_keras.metrics.Mean(name="bce")

    def call(self, inputs, training=None, mask=None):
        # Functional models silently cast inputs to the Input dtype; float "ids" would be
        # truncated into wrong rows, so refuse them here.
        if isinstance(inputs, dict):
            for name, value in inputs.items():
                dtype = tf.as_dtype(value.dtype)
                if not dtype.is_integer:
                    raise ValueError(f"{self.name}: input {name!r} must hold integer ids, "
                                     f"got dtype {dtype.name}.")
        return super().call(inputs, training=training, mask=mask)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        if getattr(self, "loss", None):
            task = self.compiled_loss(y, y_pred, sample_weight)
        else:
            task = domain_bce(y, y_pred, x[self.domain_field], self.num_domains)
        total = task + tf.add_n(self.losses) if self.losses else task
        self.bce_tracker.update_state(task)
        self.loss_tracker.update_state(total)
        # Synchronous replicas all-reduce (sum) their gradients: scale as Keras' own losses do, so
        # N replicas of batch B/N step like one process with batch B.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return total / replicas if replicas > 1 else total

    def test_step(self, data):
        # Training-only terms (CovLoss & co.) are not computed at evaluation: drop their metrics
        # rather than report a misleading 0.
        logs = super().test_step(data)
        hidden = {layer.name for layer in self.layers if getattr(layer, "training_only_metric", False)}
        return {k: v for k, v in logs.items() if k not in hidden}

    @property
    def metrics(self):
        return [self.loss_tracker, self.bce_tracker] + super().metrics

    def get_config(self):
        # Functional.get_config only emits the graph for classes with Functional's constructor.
        config = functional.get_network_config(self, config={"name": self.name,
                                                             "trainable": self.trainable})
        return {**config, "domain_field": self.domain_field, "num_domains": self.num_domains}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        extra = {"domain_field": config.pop("domain_field"),
                 "num_domains": config.pop("num_domains")}
        with serialization.SharedObjectLoadingScope():
            inputs, outputs, layers = functional.reconstruct_from_config(config, custom_objects)
            model = cls(inputs=inputs, outputs=outputs, name=config.get("name"), **extra)
            functional.connect_ancillary_layers(model, layers)
        return model
