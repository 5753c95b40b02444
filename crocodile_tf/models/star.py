"""STAR (Sheng et al., "One Model to Serve All: Star Topology Adaptive Recommender for Multi-Domain
CTR Prediction", CIKM 2021).

One shared embedding table; partitioned normalization (PN) of the concatenated embeddings; the
star-topology FCN, whose layer weights for domain s are `W_s ⊙ W` and `b_s + b` (shared ⊙
domain-specific); and the auxiliary network, a small MLP over the embeddings (the domain
indicator's embedding included) whose logit is added to the FCN's: `y = sigmoid(s_FCN + s_aux)`.

Sizes (capacity rule): the star FCN has widths `expert_units` + `tower_units` + 1, i.e. a bottom
and a tower per domain like the other models; the auxiliary network has widths `tower_units` + 1.
Each sample runs through its own domain's FCN only.
"""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import MLP, PartitionedNormalization, PerDomainMLP
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import finish, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "star") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    embeddings = single_embedding(schema, config, inputs)                      # [B, F*D]
    normalized = PartitionedNormalization(schema.num_domains, name="partitioned_norm")(
        [embeddings, domain])
    star_logit = PerDomainMLP(schema.num_domains, config.expert_units + config.tower_units + (1,),
                              activate_output=False, star=True, dropout=config.dropout,
                              name="star_fcn")([normalized, domain])          # [B, 1]
    aux_logit = MLP(config.tower_units + (1,), activate_output=False,
                    name="auxiliary_network")(embeddings)                      # [B, 1]
    logit = tf_keras.layers.Add(name="logit")([star_logit, aux_logit])
    output = tf_keras.layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
    return finish(schema, inputs, output, name)
