"""A per-operator profile as node data for Model Explorer (``ai-edge-model-explorer``): the hot layers on the graph.

The file is Model Explorer's *graph node data* JSON, the format its Python ``node_data_builder.GraphNodeData``
writes (google-ai-edge/model-explorer, ``src/server/package/src/model_explorer/node_data_builder.py``)::

    {"results": {"<node key>": {"value": 0.42}, ...},
     "gradient": [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 1, "bgColor": "#d32f2f"}]}

Load it in Model Explorer's side panel ("Node data" → load JSON) over the graph of the same file. The value is the
node's share of the model's time in percent; the gradient colours the slowest node red and the idle ones white.
A graph node data file applies to the graph on screen, so no graph id (which each adapter names its own way) has
to be guessed.

How reliably the keys match the graph's nodes: Model Explorer matches a key against a node's id or against the
name of one of its output tensors (the comment on ``GraphNodeData.results`` in the file above).

- ONNX Runtime reports the ONNX node name, which is the node id in the ONNX adapter (``model-explorer-onnx``, whose
  own ``ort_perf`` tool keys ONNX Runtime's trace the same way): every node ONNX Runtime kept as it was matches.
  Its NCHWc layout pass renames the convolutions it rewrites (fused with their activation) to ``<output>_nchwc``;
  without the suffix that is the output tensor name of the fused activation, so those keys drop the suffix and
  match on that tensor. Nodes it inserts (``ReorderOutput``) match nothing: their time is in the report's table
  but not on the graph.
- OpenVINO reports its own node names, which its ``.tflite`` and ``.onnx`` readers take from the ONNX node names or
  the output tensor names: most match (by id or by output tensor name). Fused nodes keep the name of the node they
  absorbed, so a fused Conv+ReLU lands on the Conv; reorders OpenVINO inserts match nothing.
- A ``.tflite`` graph's node ids in Model Explorer are op indices, so only output-tensor-name matches work there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convbench.bench.profile import OpProfile
from convbench.io import write_json

# White (idle) to red (the slowest node): Model Explorer interpolates between the stops, 0 = least, 1 = most.
_ORT_NCHWC = "_nchwc"  # ONNX Runtime's suffix on a node its NCHWc layout pass rewrote (see the module docstring)
GRADIENT = ({"stop": 0, "bgColor": "#ffffff"}, {"stop": 0.5, "bgColor": "#ffb74d"}, {"stop": 1, "bgColor": "#d32f2f"})


def model_explorer_node_data(profile: OpProfile) -> dict[str, Any]:
    """Model Explorer graph node data: each node's share of the model's time, in percent (see the module docstring)."""
    shares: dict[str, float] = {}
    for op in profile.nodes:  # a name the runtime gives two nodes (two op types) is one key: their shares add up
        key = op.node.removesuffix(_ORT_NCHWC)
        shares[key] = shares.get(key, 0.0) + op.share
    return {"results": {node: {"value": round(100 * share, 3)} for node, share in shares.items()},
            "gradient": [dict(stop) for stop in GRADIENT]}


def write_model_explorer(profile: OpProfile, path: str | os.PathLike[str]) -> Path:
    """Write :func:`model_explorer_node_data` of ``profile`` to ``path``; return the path."""
    return write_json(path, model_explorer_node_data(profile))
