"""ONNX targets: a model published as one ONNX file, answered by onnxruntime, attacked white-box through onnx2torch.

An ONNX file is a protobuf holding the graph and its weights: reading it builds data, never runs code from
it. The file is verified (sha256) like any other weights before it is read. Graphs that keep their tensors
in separate external-data files are refused: those files are named by paths inside the graph, which
neither the cache nor the checksum covers.

The black box (`predict_proba`, label and posterior attacks) runs the file itself in onnxruntime. A
white-box attack gets the graph converted to a torch module by onnx2torch, checked against onnxruntime on a
probe batch; a graph that does not convert, or whose conversion answers differently, has no white box,
and the engine plans its white-box jobs as not applicable with that reason (`white_box_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.onnx_file import onnx_signature, read_onnx_file
from securitynet.errors import SecurityNetError, WeightsError, WhiteBoxUnavailableError, first_line
from securitynet.zoo.target import TargetModel

if TYPE_CHECKING:
    import onnx

# A converted module may differ from onnxruntime by float rounding only.
CONVERSION_TOLERANCE = 1e-4


class OnnxRuntimeModule(nn.Module):
    """An ONNX graph run by onnxruntime on the CPU, behind the nn.Module call the TargetModel makes.

    Not differentiable and without parameters: it is the black box only. Inputs may live on any device;
    outputs come back on the input's device.
    """

    def __init__(self, model: onnx.ModelProto, *, what: str = "ONNX model") -> None:
        super().__init__()
        import onnxruntime

        self.signature = onnx_signature(model, what=what)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(
                model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime reports unsupported graphs with its own types
            raise WeightsError(f"onnxruntime cannot run {what}: {first_line(exc)}") from None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        step = self.signature.fixed_batch or len(array) or 1
        outputs = [
            self.session.run(None, {self.signature.input_name: array[start : start + step]})[0]
            for start in range(0, len(array), step)
        ]
        joined = np.concatenate(outputs) if outputs else np.zeros((0,), dtype=np.float32)
        return torch.from_numpy(np.asarray(joined)).to(x.device)


def convert_to_torch(
    model: onnx.ModelProto, runtime: OnnxRuntimeModule, example: torch.Tensor, *, what: str
) -> nn.Module:
    """onnx2torch's conversion of the graph, checked against onnxruntime on ``example``.

    Raises WhiteBoxUnavailableError with the reason when the graph does not convert, the conversion does not
    run, or it answers differently from onnxruntime.
    """
    from onnx2torch import convert

    try:
        module = convert(model).eval()
        with torch.inference_mode():
            converted = module(example).float()
    except Exception as exc:  # noqa: BLE001 - any failure of the conversion means: no white box
        raise WhiteBoxUnavailableError(
            f"onnx2torch cannot convert {what} ({type(exc).__name__}: {first_line(exc)})"[:400]
        ) from None
    reference = runtime(example).float()
    if converted.shape != reference.shape:
        raise WhiteBoxUnavailableError(
            f"onnx2torch's conversion of {what} returns shape {tuple(converted.shape)}, "
            f"onnxruntime {tuple(reference.shape)}"
        )
    gap = float((converted - reference).abs().max()) if converted.numel() else 0.0
    scale = max(1.0, float(reference.abs().max())) if reference.numel() else 1.0
    if not gap <= CONVERSION_TOLERANCE * scale:
        raise WhiteBoxUnavailableError(
            f"onnx2torch's conversion of {what} answers differently from onnxruntime (largest difference {gap:.3g})"
        )
    return module


def probe_batch(card: ModelCard, n: int = 4, seed: int = 0) -> torch.Tensor:
    """A fixed batch of random inputs of the card's input shape (preprocessed layout)."""
    if card.input is None:
        raise WeightsError(f"model card {card.id} has no input spec, so its ONNX graph cannot be probed")
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, card.input.channels, *card.input.size, generator=generator)


@dataclass
class OnnxTarget(TargetModel):
    """A TargetModel whose black box is onnxruntime and whose white box is the onnx2torch conversion."""

    graph: Any = None  # the onnx.ModelProto, kept to convert it when a white-box attack asks
    _white_box: TargetModel | None = field(default=None, init=False, repr=False)

    def white_box(self) -> TargetModel:
        """A TargetModel of the converted module (same card and weight hash); WhiteBoxUnavailableError if none."""
        if self._white_box is None:
            what = f"the ONNX graph of {self.card.id}"
            runtime = self.module
            assert isinstance(runtime, OnnxRuntimeModule)
            # Three images, whatever batch the graph was exported with: attacks send batches of any size.
            example = probe_batch(self.card, n=3)
            module = convert_to_torch(self.graph, runtime, example, what=what)
            self._white_box = TargetModel(
                card=self.card, module=module, weight_hash=self.weight_hash, device=self.device,
                batch_size=self.batch_size,
            )
        return self._white_box


def load_onnx_target(card: ModelCard, path: str | Path, *, device: torch.device, weight_hash: str) -> OnnxTarget:
    """A verified ONNX file -> an OnnxTarget (the caller verified ``path`` against the card)."""
    what = f"the ONNX graph of {card.id}"
    graph = read_onnx_file(path)
    return OnnxTarget(
        card=card, module=OnnxRuntimeModule(graph, what=what), weight_hash=weight_hash, device=device, graph=graph
    )


_WHITE_BOX_PROBLEMS: dict[tuple[str, str], str | None] = {}


def white_box_problem(card: ModelCard) -> str | None:
    """Why the card's ONNX graph has no white box (None: it converts), known before any job runs.

    Fetches (and verifies) the file; a file that cannot be fetched or read gives None here, so the jobs
    are planned and fail with the loader's own error. Answers are remembered per card and file.
    """
    from securitynet.zoo.weights import fetch_weights, sha256_file

    try:
        path = fetch_weights(card, progress=False)
        key = (card.fingerprint(), sha256_file(path))  # the probe depends on the card's input spec too
        if key not in _WHITE_BOX_PROBLEMS:
            target = load_onnx_target(card, path, device=torch.device("cpu"), weight_hash=f"sha256:{key[1]}")
            try:
                target.white_box()
                _WHITE_BOX_PROBLEMS[key] = None
            except WhiteBoxUnavailableError as exc:
                _WHITE_BOX_PROBLEMS[key] = str(exc)
    except (SecurityNetError, OSError):
        return None
    return _WHITE_BOX_PROBLEMS[key]
