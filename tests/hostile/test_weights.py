"""Hostile weight files through the real loading path: a card whose weights are a local file, loaded by
`zoo.loader.load_target` (fetch, verify, safe load, fit to the architecture). Random bytes, truncated or
corrupted checkpoints (zip and legacy torch formats, safetensors), checkpoints that load but do not fit,
and pickles whose payload would create a marker file: each fails with one WeightsError line, runs
nothing and leaves nothing in the cache."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import save as safetensors_bytes

from securitynet.catalog.card import ModelCard
from securitynet.errors import WeightsError
from securitynet.zoo.loader import build_module, load_target

from .conftest import Sandbox, outcome, sandbox
from .strategies import PAYLOAD_KINDS, PROTOCOLS, Payload, damaged


def _card(path: Path, fmt: str = "state_dict", num_classes: int = 3) -> ModelCard:
    return ModelCard.from_dict({
        "id": "hostile/mlp", "name": "mlp", "source": "file", "architecture": "mlp", "dataset": "mnist",
        "num_classes": num_classes, "input": {"channels": 1, "size": [4, 4], "scale": 1 / 255},
        "output_kind": "logits",
        "weights": {"urls": [path.as_uri()], "format": fmt},
    })


def _state() -> dict[str, torch.Tensor]:
    module = build_module(_card(Path("/nonexistent")))
    return {k: v.clone() for k, v in module.state_dict().items()}


def _torch_bytes(obj: object, legacy: bool = False) -> bytes:
    out = io.BytesIO()
    torch.save(obj, out, _use_new_zipfile_serialization=not legacy)
    return out.getvalue()


STATE = _state()
VALID = {"zip": _torch_bytes(STATE), "legacy": _torch_bytes(STATE, legacy=True),
         "safetensors": safetensors_bytes(STATE)}


def _load(box: Sandbox, data: bytes, suffix: str = ".pt", fmt: str = "state_dict"):
    path = box.root / f"weights{suffix}"
    path.write_bytes(data)
    return outcome(lambda: load_target(_card(path, fmt), device="cpu"), box)


@given(kind=st.sampled_from(sorted(VALID)), data=st.data())
def test_damaged_weight_files(kind: str, data: st.DataObject) -> None:
    blob = data.draw(damaged(VALID[kind]))
    suffix, fmt = (".safetensors", "safetensors") if kind == "safetensors" else (".pt", "state_dict")
    with sandbox() as box:
        result = _load(box, blob, suffix, fmt)
        # A byte flip inside tensor data can leave a loadable file (the card has no hash to catch it); a
        # truncated file, or one that does not start like a checkpoint, never loads.
        if VALID[kind].startswith(blob) and blob != VALID[kind] or blob[:8] != VALID[kind][:8]:
            assert isinstance(result, WeightsError)


_WRONG = st.sampled_from([
    "no-entries", "shape", "missing", "unexpected", "not-a-dict", "strings", "nested-twice", "ints-as-keys",
])


@given(wrong=_WRONG, legacy=st.booleans(), safetensors=st.booleans())
def test_checkpoints_that_load_but_do_not_fit(wrong: str, legacy: bool, safetensors: bool) -> None:
    state = dict(STATE)
    first = next(iter(state))
    if wrong == "no-entries":
        obj: object = {}
    elif wrong == "shape":
        obj = {**state, first: torch.zeros(2, 2)}
    elif wrong == "missing":
        obj = {k: v for k, v in state.items() if k != first}
    elif wrong == "unexpected":
        obj = {**state, "extra.weight": torch.zeros(1)}
    elif wrong == "not-a-dict":
        obj = [torch.zeros(1)]
    elif wrong == "strings":
        obj = {k: "tensor" for k in state}
    elif wrong == "nested-twice":
        obj = {"state_dict": state, "model": state}
    else:
        obj = {i: v for i, v in enumerate(state.values())}
    with sandbox() as box:
        if safetensors and wrong in ("shape", "missing", "unexpected", "no-entries"):
            assert isinstance(_load(box, safetensors_bytes(obj), ".safetensors", "safetensors"), WeightsError)
        else:
            assert isinstance(_load(box, _torch_bytes(obj, legacy)), WeightsError)


@given(how=PAYLOAD_KINDS, protocol=PROTOCOLS, container=st.sampled_from(["raw", "zip", "legacy", "nested"]))
def test_weight_file_with_a_pickle_payload_is_refused_unrun(how: str, protocol: int, container: str) -> None:
    with sandbox() as box:
        payload = Payload(box.marker, how)
        if container == "raw":
            blob = pickle.dumps({**STATE, "x": payload}, protocol=protocol)
        elif container == "nested":
            blob = _torch_bytes({"state_dict": STATE, "args": {"lr": payload}})
        else:
            blob = _torch_bytes({**STATE, "x": payload}, legacy=container == "legacy")
        assert isinstance(_load(box, blob), WeightsError)
