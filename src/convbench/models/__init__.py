"""The architecture zoo: one registry, one small file per architecture."""

from convbench.models._registry import build, list_models, register_model

__all__ = ["build", "list_models", "register_model"]
