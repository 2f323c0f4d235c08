"""The torch device a run asks for (``--device``): read and checked once, before any model loads.

``cpu``, ``cuda`` or ``cuda:N``. A device this machine does not have is one `DeviceError` naming it,
not a CUDA traceback in every job. Weights always load on the CPU (``map_location="cpu"``) and then move
to the device; results always come back as CPU numpy arrays.
"""

from __future__ import annotations

import torch

from securitynet.errors import DeviceError

DEVICE_CHOICES = "cpu, cuda or cuda:N"
_KINDS = ("cpu", "cuda")


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parse_device(spec: str | torch.device) -> torch.device:
    """The device ``spec`` names (syntax only: whether this machine has it is `check_available`'s question)."""
    if isinstance(spec, torch.device):
        device = spec
    else:
        try:
            device = torch.device(str(spec).strip().lower())
        except (RuntimeError, ValueError):
            raise DeviceError(f"device {spec!r} is not a device name: use {DEVICE_CHOICES}") from None
    if device.type not in _KINDS:
        raise DeviceError(f"device {spec!r} is not supported: use {DEVICE_CHOICES}")
    return device


def check_available(device: torch.device) -> torch.device:
    """``device`` when this machine can use it, else a DeviceError saying what it has."""
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
        raise DeviceError(f"device {device}: no usable CUDA device on this machine (torch {torch.__version__}, "
                          f"{built}); use --device cpu")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(f"device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return device


def resolve_device(spec: str | torch.device | None) -> torch.device:
    """The usable device ``spec`` names; None: `default_device`."""
    return check_available(parse_device(spec)) if spec is not None else default_device()


def device_label(device: torch.device) -> str:
    """What a result row records: the device that ran it, a GPU with its index and name (at most 64 characters)."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"[:64]
    return str(device)
