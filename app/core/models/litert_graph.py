"""What a bare ``.tflite`` classifier computes on the way to its answer, made readable.

A converted Keras classifier keeps, inside its flatbuffer, the tensors probscope reads from a
Keras model: the logits before the final softmax, the features that feed the last
``FULLY_CONNECTED``, and the outputs of the ReLU-family layers (fused into a convolution or a
dense op, or on their own). LiteRT computes them but lets only a subgraph's outputs be read,
so this rewrites the model's output list to add them (operators and weights untouched) and
says which output is what. Nothing here imports TensorFlow: the flatbuffer is read with the
schema LiteRT ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Ops whose output is a ReLU when their fused activation says so.
_FUSED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "SUB", "CONCATENATION",
          "AVERAGE_POOL_2D", "MAX_POOL_2D", "TRANSPOSE_CONV"}
_RELU_OPS = {"RELU", "RELU6", "RELU_0_TO_1"}
_PASSTHROUGH = {"DEQUANTIZE", "QUANTIZE", "RESHAPE"}  # between the last dense op and the output


@dataclass
class InnerOutputs:
    """The rewritten model and, in output order, what each of its outputs is.

    ``names[i]`` is ``"scores"`` (the file's own output, when its ending is not a softmax),
    ``"probabilities"``, ``"logits"``, ``"features"``, or ``"relu:<tensor name>"``; ``ranks``
    gives the rank of each ReLU output (4 for a feature map, 2 for a dense layer).
    """

    model: bytes
    names: list[str]
    relu_ranks: dict[str, int] = field(default_factory=dict)
    # The features' own name when a ReLU made them (a Dense(relu) before the classifier):
    # diagnostics list that layer, the probe reads it as the features.
    features_relu: str | None = None

    @property
    def relus(self) -> list[str]:
        return [n for n in self.names if n.startswith("relu:")]


def _schema() -> Any:
    import ai_edge_litert.schema_py_generated as schema

    return schema


def expose_inner_tensors(data: bytes, relus: bool = True) -> InnerOutputs | None:
    """Add the logits, features and (with ``relus``) ReLU outputs of a one-output classifier
    to its outputs.

    Every output is a tensor LiteRT must keep, which stops some fusions: the ReLU maps of a
    MobileNetV2 at 96 px took a single image from 1.92 to 2.23 ms, the logits and features
    alone cost nothing measurable, so the maps are exposed only for the probe.

    Returns None when the file is not such a classifier (several outputs or subgraphs, no
    operator producing the output) or cannot be rewritten; the caller keeps the file as it is.
    """
    try:
        return _expose(data, relus)
    except Exception:  # a file this reader does not understand is still run as it is
        return None


def _expose(data: bytes, relus: bool) -> InnerOutputs | None:
    import flatbuffers

    fb = _schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAs(data, 0))
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].outputs) != 1:
        return None
    graph = model.subgraphs[0]
    codes = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}

    def op_name(op: Any) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return codes.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")

    producer = {int(t): op for op in graph.operators for t in op.outputs}
    out = int(graph.outputs[0])
    names, tensors = ["scores"], [out]
    op = producer.get(out)
    if op is None:
        return None
    if op_name(op) == "SOFTMAX":
        names = ["probabilities", "logits"]
        tensors.append(int(op.inputs[0]))
        op = producer.get(int(op.inputs[0]))
    elif op_name(op) == "LOGISTIC":  # a binary classifier's sigmoid: read as it is (scores)
        op = producer.get(int(op.inputs[0]))
    while op is not None and op_name(op) in _PASSTHROUGH:
        op = producer.get(int(op.inputs[0]))
    head = op if op is not None and op_name(op) == "FULLY_CONNECTED" else None
    features = int(head.inputs[0]) if head is not None else None
    if features is not None:
        names.append("features")
        tensors.append(features)
    relu_ranks: dict[str, int] = {}
    features_relu = None
    for op in graph.operators if relus else []:
        kind, t = op_name(op), int(op.outputs[0])
        fused = getattr(op.builtinOptions, "fusedActivationFunction", None)
        is_relu = kind in _RELU_OPS or (kind in _FUSED and fused in (
            fb.ActivationFunctionType.RELU, fb.ActivationFunctionType.RELU6))
        if not is_relu or op is head:
            continue
        if t in tensors:
            features_relu = _tensor_name(graph, t) if t == features else features_relu
            continue
        name = "relu:" + _tensor_name(graph, t)
        if name in relu_ranks:
            name += f"#{t}"
        relu_ranks[name] = len(graph.tensors[t].shape)
        names.append(name)
        tensors.append(t)
    if len(tensors) == 1:
        return None
    graph.outputs = np.asarray(tensors, dtype=np.int32)
    # The signature named the one output; the outputs are now read by position.
    model.signatureDefs = []
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return InnerOutputs(bytes(builder.Output()), names, relu_ranks, features_relu)


def _tensor_name(graph: Any, t: int) -> str:
    """The layer's name: the converter joins the names of the ops it fused with ';'
    ("model/dense/MatMul;model/dense/Relu;model/dense/BiasAdd"), so the one ending in the
    ReLU is taken, without that op ("model/dense"); else the first."""
    parts = graph.tensors[t].name.decode(errors="replace").split(";")
    for part in parts:
        head, _, op = part.rpartition("/")
        if head and op in ("Relu", "Relu6"):
            return head
    return parts[0]
