"""Backdoor triggers on uint8 images in the natural layout: BadNets patches, Blended noise, WaNet warps.

Each trigger is a frozen dataclass that turns a batch of images into triggered copies (the input is never
changed: arrays from the data cache are read-only and shared) and round-trips through a plain dict, the
form model cards keep in ``backdoor.trigger``. Every random part (patch pattern, blend noise, warping
field) is drawn from its own recorded seed, so a trigger is rebuilt bit for bit from its dict.

- ``patch`` (BadNets, Gu et al. 2017): a small square stamped into the image, at a named corner or an
  explicit (row, col), solid, checkerboard or random black/white.
- ``blended`` (Chen et al. 2017): ``(1 - alpha) * x + alpha * noise`` with a fixed uniform-noise image.
- ``wanet`` (Nguyen & Tran, ICLR 2021): a fixed, smooth warping field (a k x k grid of random offsets,
  upsampled bicubically, strength ``s``) applied with bilinear sampling; images are rounded back to uint8,
  as a triggered image handed to a model in the natural layout must be.

Layouts: batches (N, H, W) grey or (N, H, W, C) colour.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np

from securitynet.errors import SecurityNetError

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
PATCH_PATTERNS = ("solid", "checkerboard", "random")
# Keys that document where a published trigger came from; they do not change how it is applied.
_DESCRIPTIVE_KEYS = frozenset({"image", "image_url", "image_sha256", "description", "source"})


class TriggerError(SecurityNetError):
    """A trigger description is malformed, or does not fit the images it is applied to."""


def _check_batch(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = getattr(images, "dtype", type(images).__name__)
        raise TriggerError(f"triggers apply to uint8 numpy images in the natural layout, got {kind}")
    if images.ndim not in (3, 4):
        raise TriggerError(f"images must be a batch (N, H, W) grey or (N, H, W, C) colour, got shape {images.shape}")
    return images


class Trigger(ABC):
    """A backdoor trigger; subclasses are frozen dataclasses named by ``kind``."""

    kind: ClassVar[str]

    def apply(self, images: np.ndarray) -> np.ndarray:
        """Triggered copies of ``images`` (uint8, same shape); the input is left untouched."""
        return self._apply(_check_batch(images))

    @abstractmethod
    def _apply(self, batch: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return {"kind": self.kind, **data}

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Trigger:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known - _DESCRIPTIVE_KEYS - {"kind"})
        if unknown:
            raise TriggerError(f"{cls.kind} trigger has unknown fields {unknown}; known: {sorted(known)}")
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise TriggerError(f"{cls.kind} trigger is malformed: {exc}") from None


@dataclass(frozen=True)
class PatchTrigger(Trigger):
    """BadNets: a ``size`` x ``size`` square at ``position`` (a corner name or [row, col] of its top-left pixel).

    ``margin`` keeps a named-corner patch that many pixels away from the border. ``pattern``: ``solid`` (every
    pixel ``value``), ``checkerboard`` (``value`` and ``255 - value`` alternating, top-left ``value``) or
    ``random`` (each pixel and channel ``value`` or ``255 - value``, drawn with ``pattern_seed``).
    """

    kind: ClassVar[str] = "patch"
    size: int = 3
    position: str | tuple[int, int] = "bottom-right"
    pattern: str = "solid"
    value: int = 255
    margin: int = 0
    pattern_seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.size, int) or self.size < 1:
            problems.append(f"size must be a positive int, got {self.size!r}")
        if isinstance(self.position, list | tuple):
            if len(self.position) != 2 or not all(isinstance(v, int) and v >= 0 for v in self.position):
                problems.append(f"position must be a corner name or [row, col] >= 0, got {self.position!r}")
            else:
                object.__setattr__(self, "position", (int(self.position[0]), int(self.position[1])))
        elif self.position not in CORNERS:
            problems.append(f"position must be one of {CORNERS} or [row, col], got {self.position!r}")
        if self.pattern not in PATCH_PATTERNS:
            problems.append(f"pattern must be one of {PATCH_PATTERNS}, got {self.pattern!r}")
        if not isinstance(self.value, int) or not 0 <= self.value <= 255:
            problems.append(f"value must be an int in 0..255, got {self.value!r}")
        if not isinstance(self.margin, int) or self.margin < 0:
            problems.append(f"margin must be an int >= 0, got {self.margin!r}")
        if self.pattern == "random" and self.pattern_seed is None:
            problems.append("a random patch needs pattern_seed")
        if problems:
            raise TriggerError("patch trigger is invalid: " + "; ".join(problems))

    def top_left(self, height: int, width: int) -> tuple[int, int]:
        """Row and column of the patch's top-left pixel in an image of this size (checked to fit)."""
        if isinstance(self.position, tuple):
            row, col = self.position
        else:
            top = self.position.startswith("top")
            left = self.position.endswith("left")
            row = self.margin if top else height - self.size - self.margin
            col = self.margin if left else width - self.size - self.margin
        if row < 0 or col < 0 or row + self.size > height or col + self.size > width:
            raise TriggerError(
                f"a {self.size}x{self.size} patch at {self.position} (margin {self.margin}) does not fit "
                f"{height}x{width} images"
            )
        return row, col

    def pixels(self, channels: int | None) -> np.ndarray:
        """The patch itself: (size, size) for grey images, (size, size, channels) for colour."""
        shape = (self.size, self.size) if channels is None else (self.size, self.size, channels)
        high, low = np.uint8(self.value), np.uint8(255 - self.value)
        if self.pattern == "solid":
            return np.full(shape, high, dtype=np.uint8)
        if self.pattern == "checkerboard":
            rows, cols = np.indices((self.size, self.size))
            board = np.where((rows + cols) % 2 == 0, high, low).astype(np.uint8)
            return board if channels is None else np.repeat(board[:, :, None], channels, axis=2)
        bits = np.random.default_rng(self.pattern_seed).integers(0, 2, size=shape)
        return np.where(bits == 1, high, low).astype(np.uint8)

    def mask(self, height: int, width: int) -> np.ndarray:
        """Boolean (H, W) map of the pixels the trigger overwrites (ground truth for reversed masks)."""
        row, col = self.top_left(height, width)
        mask = np.zeros((height, width), dtype=bool)
        mask[row : row + self.size, col : col + self.size] = True
        return mask

    def _apply(self, batch: np.ndarray) -> np.ndarray:
        height, width = batch.shape[1:3]
        row, col = self.top_left(height, width)
        out = batch.copy()
        out[:, row : row + self.size, col : col + self.size] = self.pixels(None if batch.ndim == 3 else batch.shape[3])
        return out


@dataclass(frozen=True)
class BlendedTrigger(Trigger):
    """Blended (Chen et al. 2017): ``round((1 - alpha) * x + alpha * noise)``, noise uniform in 0..255 per pixel.

    The noise image has the images' own shape and is drawn from ``pattern_seed`` each time, so one trigger
    applies to any image size and is still a single fixed pattern for a given size.
    """

    kind: ClassVar[str] = "blended"
    alpha: float = 0.2
    pattern: str = "noise"
    pattern_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.alpha, int | float) or not 0 < self.alpha <= 1:
            raise TriggerError(f"blended trigger alpha must be in (0, 1], got {self.alpha!r}")
        if self.pattern != "noise":
            raise TriggerError(f"blended trigger pattern must be 'noise', got {self.pattern!r}")
        if not isinstance(self.pattern_seed, int):
            raise TriggerError(f"blended trigger pattern_seed must be an int, got {self.pattern_seed!r}")

    def noise(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.default_rng(self.pattern_seed).integers(0, 256, size=shape).astype(np.float32)

    def _apply(self, batch: np.ndarray) -> np.ndarray:
        noise = self.noise(batch.shape[1:])
        blended = (1.0 - self.alpha) * batch.astype(np.float32) + self.alpha * noise
        return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class WaNetTrigger(Trigger):
    """WaNet (Nguyen & Tran 2021): warp every image with one fixed smooth field.

    As in the authors' code: a (2, k, k) grid of uniform(-1, 1) offsets, divided by its mean absolute value,
    upsampled bicubically to the image size, scaled by ``s / H`` and added to the identity sampling grid
    (clamped to [-1, 1]) with ``grid_rescale``; images are then resampled bilinearly. ``field_seed`` draws the
    grid. `noise_warp` gives the randomly perturbed warps of WaNet's "noise mode" used when poisoning.
    """

    kind: ClassVar[str] = "wanet"
    k: int = 4
    s: float = 0.5
    grid_rescale: float = 1.0
    field_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 2:
            raise TriggerError(f"wanet trigger k must be an int >= 2, got {self.k!r}")
        if not isinstance(self.s, int | float) or self.s <= 0:
            raise TriggerError(f"wanet trigger s must be > 0, got {self.s!r}")
        if not isinstance(self.grid_rescale, int | float) or self.grid_rescale <= 0:
            raise TriggerError(f"wanet trigger grid_rescale must be > 0, got {self.grid_rescale!r}")
        if not isinstance(self.field_seed, int):
            raise TriggerError(f"wanet trigger field_seed must be an int, got {self.field_seed!r}")

    def grid(self, height: int, width: int) -> Any:
        """The (1, H, W, 2) sampling grid of this trigger, in grid_sample's [-1, 1] coordinates."""
        import torch
        import torch.nn.functional as F

        offsets = np.random.default_rng(self.field_seed).uniform(-1.0, 1.0, size=(1, 2, self.k, self.k))
        offsets = torch.from_numpy(offsets / np.mean(np.abs(offsets))).float()
        field = F.interpolate(offsets, size=(height, width), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        rows = torch.linspace(-1, 1, height)
        cols = torch.linspace(-1, 1, width)
        grid_rows, grid_cols = torch.meshgrid(rows, cols, indexing="ij")
        identity = torch.stack((grid_cols, grid_rows), dim=2)[None]  # grid_sample wants (x, y)
        warped = (identity + self.s * field / height) * self.grid_rescale
        return torch.clamp(warped, -1, 1)

    def _warp(self, batch: np.ndarray, grid: Any) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(batch.astype(np.float32))  # a copy: cached arrays are read-only
        x = x[:, None] if batch.ndim == 3 else x.permute(0, 3, 1, 2)
        grid = grid.expand(len(batch), -1, -1, -1) if grid.shape[0] == 1 else grid
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        out = out[:, 0] if batch.ndim == 3 else out.permute(0, 2, 3, 1)
        return np.clip(np.rint(out.numpy()), 0, 255).astype(np.uint8)

    def _apply(self, batch: np.ndarray) -> np.ndarray:
        return self._warp(batch, self.grid(*batch.shape[1:3]))

    def noise_warp(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """WaNet's noise mode: the trigger's warp plus a random per-image perturbation of up to one pixel.

        Poisoned training sets include such images with their *true* labels, so that the model learns the
        exact warp, not "any warp", as the trigger.
        """
        import torch

        batch = _check_batch(images)
        height, width = batch.shape[1:3]
        jitter = torch.from_numpy(rng.uniform(-1.0, 1.0, size=(len(batch), height, width, 2))).float() / height
        return self._warp(batch, torch.clamp(self.grid(height, width) + jitter, -1, 1))


TRIGGER_CLASSES: dict[str, type[Trigger]] = {cls.kind: cls for cls in (PatchTrigger, BlendedTrigger, WaNetTrigger)}
TRIGGER_KINDS: tuple[str, ...] = tuple(TRIGGER_CLASSES)
# The attack names used on cards and on the command line, and the trigger kind each uses.
ATTACK_TRIGGER_KIND: dict[str, str] = {"badnets": "patch", "blended": "blended", "wanet": "wanet"}


def trigger_from_dict(data: dict[str, Any] | Trigger) -> Trigger:
    """Rebuild a trigger from its dict (as kept in ``card.backdoor.trigger``)."""
    if isinstance(data, Trigger):
        return data
    if not isinstance(data, dict) or "kind" not in data:
        raise TriggerError(f"a trigger is a mapping with a 'kind' ({', '.join(TRIGGER_KINDS)}), got {data!r}")
    cls = TRIGGER_CLASSES.get(data["kind"])
    if cls is None:
        raise TriggerError(f"unknown trigger kind {data['kind']!r}; known: {', '.join(TRIGGER_KINDS)}")
    return cls.from_fields(dict(data))


def apply_trigger(images: np.ndarray, trigger: dict[str, Any] | Trigger) -> np.ndarray:
    """Triggered copies of uint8 ``images`` in the natural layout."""
    return trigger_from_dict(trigger).apply(images)


def sample_trigger(attack: str, image_size: tuple[int, int], rng: np.random.Generator) -> Trigger:
    """A random trigger of the kind ``attack`` uses, as the Trojan Detection Challenge varied them.

    badnets: a solid, checkerboard or random patch of 10-18% of the image side at a random position;
    blended: alpha in [0.1, 0.2] with a random noise image; wanet: k = 4, s in [3, 4] with a random field. The
    warps are stronger than the paper's s = 0.5 (displacements of 1-2 px at 28 px instead of a quarter pixel)
    because zoo models train for a few epochs, not the hundred in which WaNet's faint warps are learnt.
    """
    height, width = image_size
    seed = int(rng.integers(0, 2**31 - 1))
    if attack == "badnets":
        side = min(height, width)
        size = int(rng.integers(max(2, round(0.10 * side)), max(3, round(0.18 * side)) + 1))
        pattern = str(rng.choice(PATCH_PATTERNS))
        position = (int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)))
        return PatchTrigger(
            size=size, position=position, pattern=pattern, value=255,
            pattern_seed=seed if pattern == "random" else None,
        )
    if attack == "blended":
        return BlendedTrigger(alpha=round(float(rng.uniform(0.1, 0.2)), 3), pattern_seed=seed)
    if attack == "wanet":
        return WaNetTrigger(k=4, s=round(float(rng.uniform(3.0, 4.0)), 3), field_seed=seed)
    raise TriggerError(f"unknown backdoor attack {attack!r}; known: {', '.join(ATTACK_TRIGGER_KIND)}")
