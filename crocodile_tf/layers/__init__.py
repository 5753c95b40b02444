"""Keras layers of Crocodile, usable in your own functional models."""

from crocodile_tf.layers.domain_mlp import PartitionedNormalization, PerDomainMLP
from crocodile_tf.layers.embedding import MultiEmbedding, PriorEmbedding
from crocodile_tf.layers.extraction import (OtherDomainStopGradient, OwnDomainSelect,
                                            ScenarioAttention, SelectSlices, SubsetGate)
from crocodile_tf.layers.gates import MMoEGate, PriorElementwiseGate, PriorGate, own_domain
from crocodile_tf.layers.mlp import MLP, ExpertBank
from crocodile_tf.layers.personalization import DomainAdaptiveMLP, EPNet, GateNU, PPNet
from crocodile_tf.layers.towers import DomainTowers
from crocodile_tf.losses.covariance import CrossExpertCovariance
from crocodile_tf.losses.domain_bce import DomainBCE

__all__ = ["CrossExpertCovariance", "DomainAdaptiveMLP", "DomainBCE", "DomainTowers", "EPNet",
           "ExpertBank", "GateNU", "MLP", "MMoEGate", "MultiEmbedding", "OtherDomainStopGradient",
           "OwnDomainSelect", "PPNet", "PartitionedNormalization", "PerDomainMLP",
           "PriorElementwiseGate", "PriorEmbedding", "PriorGate", "ScenarioAttention",
           "SelectSlices", "SubsetGate", "own_domain"]
