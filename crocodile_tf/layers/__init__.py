"""Keras layers of Crocodile, usable in your own functional models."""

from crocodile_tf.layers.embedding import MultiEmbedding, PriorEmbedding
from crocodile_tf.layers.gates import MMoEGate, PriorElementwiseGate, PriorGate, own_domain
from crocodile_tf.layers.mlp import MLP, ExpertBank
from crocodile_tf.layers.towers import DomainTowers
from crocodile_tf.losses.covariance import CrossExpertCovariance
from crocodile_tf.losses.domain_bce import DomainBCE

__all__ = ["CrossExpertCovariance", "DomainBCE", "DomainTowers", "ExpertBank", "MLP", "MMoEGate",
           "MultiEmbedding", "PriorElementwiseGate", "PriorEmbedding", "PriorGate", "own_domain"]
