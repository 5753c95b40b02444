"""ME-MMoE (Crocodile paper §2, §4.2; multi-embedding after Su et al., STEM, 2023): Crocodile's
multi-embedding with one expert per table and an MMoE gate over the concatenated embeddings,
trained with BCE only — Crocodile with `gate="mmoe"`, `loss="bce"` (Table 5's base). The gate and
loss of the given config are overridden; everything else (tables, widths) is taken as given.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import crocodile
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "me_mmoe") -> MultiDomainModel:
    return crocodile.build(schema, config.replace(gate="mmoe", loss="bce"), name=name)
