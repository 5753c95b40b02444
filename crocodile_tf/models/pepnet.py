"""PEPNet (Chang et al., "PEPNet: Parameter and Embedding Personalized Network for Infusing with
Personalized Prior Information", KDD 2023).

EPNet: a Gate NU of the domain-side prior (an independent embedding of the domain field) and the
stop-gradient shared embeddings rescales every element of the shared embeddings,
`O_ep = GateNU(e_domain ⊕ sg(E)) ⊙ E`. PPNet: an MLP of widths `expert_units` over O_ep whose every
layer input is rescaled by a Gate NU of the user/item priors (independent embeddings of the user
and item fields) and sg(O_ep). Gate NUs: ReLU layer of `expert_units[-1]` units, then
2 * sigmoid.

Deviation: PEPNet's towers are per task; here the single (CTR) task is scored by one tower per
domain (`tower_units`) like every model of the zoo. PEPNet's author-side prior is the item id.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import DomainTowers, EPNet, PPNet
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import finish, prior_embedding, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "pepnet") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    embeddings = single_embedding(schema, config, inputs)                          # [B, F*D]
    domain_prior = prior_embedding(schema, config, inputs, [schema.domain_field], "domain_prior")
    user_item_prior = prior_embedding(schema, config, inputs,
                                      [schema.user_field, schema.item_field], "user_item_prior")
    gate_units = config.expert_units[-1]
    personalized = EPNet(gate_units, name="epnet")([embeddings, domain_prior])
    hidden = PPNet(config.expert_units, gate_units, dropout=config.dropout,
                   name="ppnet")([personalized, user_item_prior])                  # [B, d]
    output = DomainTowers(schema.num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([hidden, domain])
    return finish(schema, inputs, output, name)
