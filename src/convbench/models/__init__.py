"""The architecture zoo: one registry, one small file per architecture.

Importing this package registers every architecture (each module's ``@register_model`` runs on import).
"""

from convbench.models import alexnet, mobilenet_v1, mobilenet_v2, stagenet, vgg19  # noqa: F401  (registers the builders)
from convbench.models._layers import make_divisible
from convbench.models._registry import (
    ExitPoint,
    ModelDefaults,
    accepted_options,
    build,
    defaults,
    deployed_forward,
    describe,
    describe_all,
    exit_points,
    list_models,
    register_model,
)
from convbench.models.macs import LayerMacs, count_macs, total_macs

__all__ = ["ExitPoint", "LayerMacs", "ModelDefaults", "accepted_options", "build", "count_macs", "defaults",
           "deployed_forward", "describe", "describe_all", "exit_points", "list_models", "make_divisible",
           "register_model", "total_macs"]
