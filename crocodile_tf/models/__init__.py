"""The model zoo: `build_model(name, schema, config)`; see registry.MODELS for the names."""

from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig
from crocodile_tf.models.registry import MODELS, build_model, model_names

__all__ = ["MODELS", "ModelConfig", "MultiDomainModel", "build_model", "model_names"]
