"""Model registry: name -> builder(schema, config) -> MultiDomainModel. One line per model."""

from __future__ import annotations

from typing import Callable

from crocodile_tf.features import FeatureSchema
from crocodile_tf.models import (adasparse, crocodile, hinet, me_mmoe, me_ple, mmoe, pepnet, ple,
                                 sdem, shared_bottom, single_domain, star)
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig

Builder = Callable[[FeatureSchema, ModelConfig], MultiDomainModel]

MODELS: dict[str, Builder] = {
    "single_domain": single_domain.build,
    "shared_bottom": shared_bottom.build,
    "mmoe": mmoe.build,
    "ple": ple.build,
    "me_mmoe": me_mmoe.build,
    "me_ple": me_ple.build,
    "sdem": sdem.build,
    "star": star.build,
    "pepnet": pepnet.build,
    "hinet": hinet.build,
    "adasparse": adasparse.build,
    "crocodile": crocodile.build,
}


def model_names() -> list[str]:
    return sorted(MODELS)


def build_model(name: str, schema: FeatureSchema, config: ModelConfig | None = None) -> MultiDomainModel:
    """Builds registered model `name` from the feature schema and a ModelConfig."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; registered models: {model_names()}.")
    return MODELS[name](schema, config or ModelConfig())
