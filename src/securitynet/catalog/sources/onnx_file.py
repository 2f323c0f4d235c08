"""The ONNX-file source: a card for a model published as one ONNX file.

The file says what its graph takes and returns: the input shape (channels and image size, when the
exporter fixed them), the output width, the operator set, and whether the graph ends in a softmax, a
log-softmax or a sigmoid (so whether it returns probabilities or logits). Everything else - the dataset, the
pixel scaling and normalisation, a license, or any other card field - comes from keyword options or a small
YAML mapping of card fields (options win over the YAML, the YAML over what the file says).

Reading the file parses a protobuf and runs nothing from it. The card records the file's sha256, so every
later use verifies it; the file is used in place (a ``file://`` URL).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.card_template import deep_merge
from securitynet.errors import CardError, WeightsError, first_line

if TYPE_CHECKING:
    import onnx

SOURCE = "onnx"
# The last operator of a graph -> what its output is (one output unit: the positive class of two).
_KIND_OF_LAST_OP = {"Softmax": "probabilities", "LogSoftmax": "log_probabilities"}
_BINARY_KIND_OF_LAST_OP = {"Sigmoid": "binary_probability"}


@dataclass(frozen=True)
class OnnxSignature:
    """What an ONNX file says about itself: its one input, its first output and the operator set it needs."""

    input_name: str
    input_shape: tuple[int | str | None, ...]  # a name (or None) for a dynamic dimension, e.g. the batch
    output_shape: tuple[int | str | None, ...]
    opset: int | None
    last_op: str | None  # the operator that produces the output

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the graph was exported with, when it accepts no other."""
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) and first > 0 else None


def _dims(value_info: Any) -> tuple[int | str | None, ...]:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims)


def _graph_tensors(graph: Any) -> Any:
    """Every tensor stored in a graph: initializers and tensor attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _graph_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _graph_tensors(subgraph)


def read_onnx_file(path: str | Path) -> onnx.ModelProto:
    """Parse and check an ONNX file (no code runs); one-line WeightsError when it is not a usable one.

    Graphs keeping tensors in external-data files are refused: those files are named by paths inside the
    graph, which neither the cache nor the checksum covers.
    """
    import onnx

    path = Path(path)
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a file that is not ONNX
        raise WeightsError(f"ONNX file {path} cannot be read: {type(exc).__name__}: {first_line(exc)}") from None
    external = [t.name for t in _graph_tensors(model.graph) if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise WeightsError(
            f"ONNX file {path} keeps {len(external)} tensor(s) in external data files (e.g. {external[0]!r}); "
            "only self-contained ONNX files are supported (save with onnx.save(..., save_as_external_data=False))"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - the checker's error types vary between onnx versions
        raise WeightsError(f"ONNX file {path} is not a valid ONNX model: {first_line(exc)}") from None
    return model


def onnx_signature(model: onnx.ModelProto, *, what: str = "ONNX model") -> OnnxSignature:
    """The one input and the first output of a graph, its opset and last operator; WeightsError otherwise."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]  # old exporters list weights as inputs
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs) or "none"
        raise WeightsError(f"{what} must take one input (a batch of images), it takes {len(inputs)}: {names}")
    if not model.graph.output:
        raise WeightsError(f"{what} has no output")
    output = model.graph.output[0]
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    last_op = next((node.op_type for node in reversed(model.graph.node) if output.name in node.output), None)
    return OnnxSignature(inputs[0].name, _dims(inputs[0]), _dims(output), opset, last_op)


def _output_width(model: onnx.ModelProto, signature: OnnxSignature, input_shape: tuple[int, ...], path: Path) -> int:
    """The output width the graph declares, else the width of its answer to one blank input."""
    width = signature.output_shape[-1] if len(signature.output_shape) == 2 else None
    if isinstance(width, int) and width > 0:
        return width
    import numpy as np
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        blank = np.zeros((signature.fixed_batch or 1, *input_shape), dtype=np.float32)
        answer = session.run(None, {signature.input_name: blank})[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime reports unsupported graphs with its own types
        raise WeightsError(f"onnxruntime cannot run ONNX file {path}: {first_line(exc)}") from None
    if answer.ndim == 1:
        return 1
    if answer.ndim != 2:
        raise CardError(f"ONNX file {path} returns outputs of shape {answer.shape}, not one row per image")
    return int(answer.shape[1])


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _read_extra_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CardError(f"card options file {path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CardError(f"card options file {path} is not valid YAML: {first_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CardError(f"card options file {path} must hold one mapping of card fields, got {type(data).__name__}")
    return data


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _default_id(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "_", path.stem).strip("._-") or "model"
    return f"{SOURCE}/{stem}"


def card_from_onnx_file(
    path: str | Path,
    *,
    dataset: str | None = None,
    card_id: str | None = None,
    name: str | None = None,
    input_size: tuple[int, ...] | None = None,
    channels: int | None = None,
    scale: float | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    output_kind: str | None = None,
    num_classes: int | None = None,
    extra_yaml: str | Path | None = None,
    **fields: Any,
) -> ModelCard:
    """A card for the model in an ONNX file: what the file says, completed by options and ``extra_yaml``.

    ``input_size`` is (H, W) or (D, H, W); ``fields`` are any other card fields (``license="MIT"``,
    ``purpose="other"``, ``train_size=60000``...). Raises CardError (one line) when the file and the options
    together do not describe a usable card, WeightsError when the file is not a readable ONNX model.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise CardError(f"ONNX file {path} does not exist")
    model = read_onnx_file(path)
    signature = onnx_signature(model, what=f"ONNX file {path}")
    options: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
    input_options = {"size": input_size, "channels": channels, "scale": scale, "mean": mean, "std": std}
    options["input"] = {key: value for key, value in input_options.items() if value is not None}
    for key, value in (("id", card_id), ("name", name), ("dataset", dataset), ("output_kind", output_kind),
                       ("num_classes", num_classes)):
        if value is not None:
            options[key] = value
    given = deep_merge(_read_extra_yaml(Path(extra_yaml)) if extra_yaml is not None else {}, options)
    input_spec = _input_fields(path, signature, given.get("input") or {})
    width = _output_width(model, signature, (int(input_spec["channels"]), *map(int, input_spec["size"])), path)
    kind = _output_kind(path, signature, width, given.get("output_kind"))
    if "dataset" not in given:
        raise CardError(f"ONNX file {path}: the dataset it was trained on is not in the file; give it (--dataset)")
    card_data = deep_merge({"id": _default_id(path), "name": path.stem, "source": SOURCE, "architecture": None,
                            "num_classes": 2 if width == 1 else width, "output_kind": kind, "tags": ["onnx"]},
                           {k: v for k, v in given.items() if k != "input"})
    card_data["input"] = input_spec
    # The file just read is the one the card verifies, whatever the YAML says about its weights.
    weights = dict(card_data.get("weights") or {})
    local = path.as_uri()
    weights.update(
        urls=[local, *[u for u in weights.get("urls", []) if u != local]], filename=path.name,
        sha256=_sha256(path), size_bytes=path.stat().st_size, format="onnx",
    )
    card_data["weights"] = weights
    onnx_facts = {
        "opset": signature.opset, "input_shape": list(signature.input_shape),
        "output_shape": list(signature.output_shape), "last_operator": signature.last_op,
    }
    card_data["extra"] = {**(card_data.get("extra") or {}), "onnx": onnx_facts}
    return ModelCard.from_dict(card_data, origin=str(path))


def _input_fields(path: Path, signature: OnnxSignature, given: dict[str, Any]) -> dict[str, Any]:
    """The card's input spec: what the file fixes, completed by the options, which must agree with the file."""
    spatial = signature.input_shape[1:]
    declared_input: dict[str, Any] = {"scale": 1.0 / 255.0}
    if spatial and isinstance(spatial[0], int):
        declared_input["channels"] = spatial[0]
    if len(spatial) in (3, 4) and all(isinstance(d, int) and d > 0 for d in spatial[1:]):
        declared_input["size"] = list(spatial[1:])
    input_spec = deep_merge(declared_input, given)
    missing = [key for key in ("channels", "size") if key not in input_spec]
    if missing:
        raise CardError(
            f"ONNX file {path} does not fix its input {' and '.join(missing)} (input shape "
            f"{list(signature.input_shape)}): give them (e.g. --input 1x28x28)"
        )
    for key in ("channels", "size"):
        if key in declared_input and list(_as_list(input_spec[key])) != list(_as_list(declared_input[key])):
            raise CardError(
                f"ONNX file {path} takes input {key} {declared_input[key]} (input shape "
                f"{list(signature.input_shape)}), the options say {input_spec[key]}"
            )
    if len(spatial) != 1 + len(input_spec["size"]):
        raise CardError(
            f"ONNX file {path} takes inputs of shape {list(signature.input_shape)}, "
            f"which is not (N, C{', D' if len(input_spec['size']) == 3 else ''}, H, W) for input size "
            f"{list(input_spec['size'])}"
        )
    return input_spec


def _output_kind(path: Path, signature: OnnxSignature, width: int, chosen: str | None) -> str:
    """The output kind the graph's last operator implies; a `chosen` one must fit the number of output units."""
    if width == 1:
        kind = _BINARY_KIND_OF_LAST_OP.get(signature.last_op or "", "binary_logit")
    else:
        kind = _KIND_OF_LAST_OP.get(signature.last_op or "", "logits")
    chosen_kind = chosen or kind
    if (width == 1) != chosen_kind.startswith("binary_"):
        raise CardError(
            f"ONNX file {path} has {width} output unit(s), which does not fit output_kind {chosen_kind} "
            "(one unit: binary_logit or binary_probability; one per class: logits, probabilities, log_probabilities)"
        )
    return kind
