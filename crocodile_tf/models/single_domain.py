"""Single-Domain: one independent model per domain, trained on that domain's rows only
(the paper's "single-domain" SharedBottom setting, §4.2; Caruana, 1997).

Domain s owns an embedding table, an MLP of widths `expert_units` and a tower of widths
`tower_units`; nothing is shared. The S models live in one functional graph so that the zoo saves,
reloads and serves them alike: each sample is looked up in its domain's table (one gather of the
S tables' rows, then the own-domain slice) and runs through its domain's MLP only
(`PerDomainMLP`). The per-domain BCE plus this own-domain routing mean domain s's model receives
exactly zero gradient from other domains' rows — the same as S separate trainings on the S
subsets, except that the S models share the batch schedule and the optimizer's step counter.
"""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import OwnDomainSelect, PerDomainMLP
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import embedding_tables, finish
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "single_domain") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    tables = embedding_tables(schema, config, inputs, schema.num_domains,
                              name="domain_embeddings")                    # [B, S, F*D]
    own = OwnDomainSelect(name="own_embedding")([tables, domain])          # [B, F*D]
    logit = PerDomainMLP(schema.num_domains, config.expert_units + config.tower_units + (1,),
                         activate_output=False, dropout=config.dropout,
                         name="domain_models")([own, domain])              # [B, 1]
    output = tf_keras.layers.Activation("sigmoid", dtype="float32", name="probability")(logit)
    return finish(schema, inputs, output, name)
