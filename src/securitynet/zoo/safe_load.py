"""Load a state dict from a weight file without ever running code from it.

PyTorch files are read with `torch.load(weights_only=True)`, whose unpickler only rebuilds tensors
and plain containers; safetensors files hold no code at all. A handful of harmless types that
research checkpoints commonly carry next to their weights (argparse.Namespace of training
arguments, numpy scalars and arrays of metrics) are allowed too: rebuilding them only sets data.
Anything else a pickle asks for (os.system, eval, an arbitrary class) refuses the file with
`UnsafeWeightsError` before the object is built.
"""

from __future__ import annotations

import argparse
import io
import pickletools
import re
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from securitynet.catalog.card import WeightsSpec
from securitynet.errors import UnsafeWeightsError, WeightsError

# Candidate keys under which checkpoints nest their state dict, tried when the card names none.
NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights")

_SAFETENSORS_MAX_HEADER = 100 << 20  # the safetensors format itself caps the header at 100 MB


def _numpy_globals() -> list[Any]:
    """numpy reconstruction helpers under both the numpy 1 (`numpy.core`) and numpy 2 (`numpy._core`) names."""
    core = getattr(np, "_core", None) or np.core
    multiarray = core.multiarray
    allowed: list[Any] = [np.ndarray, np.dtype]
    for func_name in ("scalar", "_reconstruct"):
        func = getattr(multiarray, func_name)
        allowed.append(func)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed.append((func, f"{module}.{func_name}"))
    dtype_classes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGUSV"}
    allowed.extend(sorted(dtype_classes, key=lambda c: c.__name__))
    return allowed


SAFE_EXTRA_GLOBALS: list[Any] = [argparse.Namespace, *_numpy_globals()]
# torch keeps its allow-list in one process-wide set; serialise our temporary additions to it.
_ALLOWLIST_LOCK = threading.Lock()


def looks_like_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte little-endian header length followed by a JSON object."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 0 < header_len <= min(size - 8, _SAFETENSORS_MAX_HEADER)


def load_checkpoint(path: str | Path, *, safetensors: bool | None = None) -> object:
    """The object stored in a weight file (tensors and plain containers only), never running its code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weight file {path} does not exist")
    if safetensors is None:
        safetensors = path.suffix == ".safetensors" or looks_like_safetensors(path)
    if safetensors:
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any parse failure of an untrusted file is one clear error
            raise WeightsError(f"{path} is not a readable safetensors file (truncated or corrupt?): {exc}") from None
    try:
        with _ALLOWLIST_LOCK, torch.serialization.safe_globals(SAFE_EXTRA_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - classified below; nothing from the file has run
        raise _classify_load_error(path, exc) from None


def _allowed_global_names() -> set[str]:
    """Names the weights_only unpickler accepts (torch's own list, anything allow-listed, our extras)."""
    from torch import _weights_only_unpickler as unpickler

    names: set[str] = set()
    for getter in ("_get_allowed_globals", "_get_user_allowed_globals"):
        try:
            names |= set(getattr(unpickler, getter)())
        except Exception:  # noqa: BLE001 - a private torch API; without it every non-torch name is suspect
            pass
    for entry in SAFE_EXTRA_GLOBALS:
        obj, name = entry if isinstance(entry, tuple) else (entry, None)
        names.add(name or f"{obj.__module__}.{obj.__qualname__}")
    return names


def scan_pickle_globals(stream: IO[bytes]) -> tuple[list[str], str | None]:
    """Every global (module.name) one pickle refers to, read statically with pickletools: nothing is built.

    Returns the names in order and, when the pickle cannot be parsed to its end, why (truncated/corrupt).
    """
    found: list[str] = []
    memo: dict[int, object] = {}
    recent: list[str] = []  # strings pushed lately: the operands of a protocol-4 STACK_GLOBAL
    last: object = None
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            name = opcode.name
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                found.append(_modern_name(module, attr))
                last = None
            elif name == "STACK_GLOBAL":
                found.append(_modern_name(recent[-2], recent[-1]) if len(recent) >= 2 else "<unknown global>")
                last = None
            elif isinstance(arg, str) and "UNICODE" in name or name in ("SHORT_BINSTRING", "BINSTRING", "STRING"):
                last = arg if isinstance(arg, str) else str(arg)
                recent.append(last)
            elif name == "MEMOIZE":
                memo[len(memo)] = last
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = last
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                last = memo.get(int(arg))
                if isinstance(last, str):
                    recent.append(last)
            else:
                last = None
    except (ValueError, EOFError, UnicodeDecodeError) as exc:
        return found, str(exc) or type(exc).__name__
    return found, None


def _modern_name(module: str, attr: str) -> str:
    # Python 2 pickles say __builtin__.set; torch reads them through the same mapping.
    import _compat_pickle

    if (module, attr) in _compat_pickle.NAME_MAPPING:
        module, attr = _compat_pickle.NAME_MAPPING[(module, attr)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{attr}"


def _pickle_globals_in_file(path: Path) -> tuple[list[str], str | None]:
    """Globals of the pickles a torch.load would read: data.pkl of a zip checkpoint, else the leading pickles."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not names:
                    return [], "the zip holds no data.pkl"
                return scan_pickle_globals(io.BytesIO(zf.read(names[0])))
        except (zipfile.BadZipFile, OSError) as exc:
            return [], str(exc)
    found: list[str] = []
    with open(path, "rb") as handle:
        # The legacy format is five pickles (magic number, protocol, system info, object, storage keys)
        # followed by raw storage bytes; a plain pickle file is one.
        for _ in range(5):
            if not handle.peek(1)[:1]:
                break
            names, problem = scan_pickle_globals(handle)
            found += names
            if problem:
                return found, problem
    return found, None


def _classify_load_error(path: Path, exc: Exception) -> WeightsError:
    import pickle

    message = str(exc)
    if isinstance(exc, pickle.UnpicklingError):
        names, problem = _pickle_globals_in_file(path)
        allowed = _allowed_global_names()
        refused = list(dict.fromkeys(n for n in names if n not in allowed))
        if refused:
            return UnsafeWeightsError(
                f"{path} was refused: loading it would call {', '.join(refused[:5])} (not a tensor or plain data "
                "type); a weight file that needs such calls can run arbitrary code, so nothing from it was executed"
            )
        if problem:
            return WeightsError(f"{path} is truncated or corrupt: its pickle cannot be read to the end ({problem})")
        # torch's message is long advice; its "WeightsUnpickler error:" line says what was refused.
        match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", message, re.DOTALL)
        detail = " ".join((match.group(1) if match else message).split())[:300]
        return UnsafeWeightsError(
            f"{path} was refused by the safe (weights_only) unpickler, so nothing from it was executed: {detail}"
        )
    if "TorchScript" in message:
        return WeightsError(f"{path} is a TorchScript archive, not a state dict; export its state_dict() instead")
    detail = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return WeightsError(
        f"{path} is not a readable PyTorch weight file (truncated or corrupt?): {type(exc).__name__}: {detail[:300]}"
    )


def _is_state_dict(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


def _dig(obj: object, key: str, path: Path) -> object:
    """`key` of a checkpoint dict; a dotted key walks nested dicts when no top-level key has that name."""
    if isinstance(obj, Mapping) and key in obj:
        return obj[key]
    current = obj
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            keys = sorted(map(str, obj.keys()))[:12] if isinstance(obj, Mapping) else []
            raise WeightsError(f"{path} has no key {key!r} holding the state dict (top-level keys: {keys})")
        current = current[part]
    return current


def extract_state_dict(obj: object, spec: WeightsSpec, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint: `inner_key`, auto-detected nesting, `key_prefix`."""
    state = obj
    if spec.inner_key:
        state = _dig(state, spec.inner_key, path)
    # Also under inner_key: a checkpoint's "last" entry may itself nest its state dict (RobustBench's zoo holds both).
    if isinstance(state, Mapping) and not _is_state_dict(state):
        nested = [k for k, v in state.items() if _is_state_dict(v)]
        if len(nested) == 1:
            state = state[nested[0]]
        elif len(nested) > 1:
            preferred = [k for k in NESTED_STATE_KEYS if k in nested]
            if len(preferred) != 1:
                raise WeightsError(
                    f"{path} holds several state dicts ({', '.join(map(str, nested))}); "
                    "the card must name the one to use as weights.inner_key"
                )
            state = state[preferred[0]]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{path} does not hold a state dict (found {type(state).__name__})")
    bad = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor) or not isinstance(k, str)]
    if bad or not state:
        what = f"non-tensor entries (or names that are not text) {bad[:8]}" if bad else "no entries"
        raise WeightsError(f"{path} does not hold a state dict of tensors: {what}")
    if spec.key_prefix:
        prefix = spec.key_prefix
        # Keep only the prefixed keys: a wrapper's other buffers (a normaliser, an attacker copy of the
        # model) are not part of the architecture the card builds.
        kept = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not kept:
            raise WeightsError(f"{path}: no state-dict key starts with {prefix!r} (keys: {sorted(state)[:8]})")
        return kept
    return dict(state)


def load_state_dict_file(path: str | Path, spec: WeightsSpec | None = None) -> dict[str, torch.Tensor]:
    """Load a state dict safely (safetensors or weights_only torch.load) and apply the card's key mapping."""
    path = Path(path)
    spec = spec or WeightsSpec()
    safetensors = True if spec.format == "safetensors" else None
    return extract_state_dict(load_checkpoint(path, safetensors=safetensors), spec, path)
