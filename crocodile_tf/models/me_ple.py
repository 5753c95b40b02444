"""ME-PLE (Crocodile paper §2, §4.2: PLE in the multi-embedding form of Su et al., STEM, 2023).

PLE (see `ple`) where every level-1 expert has its own embedding table: each domain's experts read
that domain's tables, each shared expert a shared table. Level-1 gates read the tables of the
experts they mix (domain s's gate: the shared tables and domain s's; the shared gate: all of them,
concatenated). Same deviation as PLE: one extraction level per entry of `expert_units`.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import ple
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "me_ple") -> MultiDomainModel:
    return ple.build(schema, config, name=name, multi_embedding=True)
