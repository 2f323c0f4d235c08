"""ModelCard: everything known about one public model, as data.

A card is validated on construction (pydantic), so a malformed YAML card or table row fails with
one error naming the card and the field. Unknown values are None, never 0.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from securitynet.errors import CardError

Purpose = Literal["benchmark", "security", "other", "self-trained"]
# One value per class: logits, probabilities, log_probabilities. One output unit for the positive class 1 of a
# two-class task (num_classes 2): its logit (binary_logit, p = sigmoid) or its probability (binary_probability).
OutputKind = Literal["logits", "probabilities", "log_probabilities", "binary_logit", "binary_probability"]
# onnx: the whole model (graph and weights) in one ONNX file, run by onnxruntime; the card names no architecture.
WeightFormat = Literal["state_dict", "checkpoint", "safetensors", "zip", "tar", "onnx"]
Interpolation = Literal["bilinear", "bicubic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class InputSpec(_Strict):
    """How uint8 images in the dataset's natural layout become the model's input tensor.

    Natural layouts: (N, H, W) grey, (N, H, W, C) colour, (N, D, H, W) grey volumes.
    The model receives (N, C, H, W) or (N, C, D, H, W) float32: x * scale, then (x - mean) / std.

    `resize_shorter` / `center_crop` describe the evaluation transform of models evaluated like
    ImageNet classifiers (resize the shorter side to 256, centre-crop 224). It applies to images that do
    not already have `size`; images of exactly `size` are taken as already transformed (the dataset
    loaders store ImageNet and CUB that way), so the crop is never applied twice.
    """

    channels: int = Field(ge=1)
    size: tuple[int, ...] = Field(description="(H, W) for images, (D, H, W) for volumes")
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize_shorter: int | None = Field(
        default=None, ge=1, description="resize the shorter side to this many pixels (aspect kept) first; 2D only"
    )
    center_crop: bool = Field(default=False, description="after resize_shorter, crop the centre `size` region")
    interpolation: Interpolation = Field(
        default="bilinear", description="how images are resized (antialiased, as PIL resizes in evaluation pipelines)"
    )

    @field_validator("size")
    @classmethod
    def _size_rank(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) not in (2, 3) or any(v <= 0 for v in value):
            raise ValueError(f"size must be (H, W) or (D, H, W) with positive entries, got {value}")
        return value

    @model_validator(mode="after")
    def _eval_transform(self) -> InputSpec:
        if self.resize_shorter is not None and len(self.size) != 2:
            raise ValueError("resize_shorter applies to 2D images only")
        if self.center_crop and (self.resize_shorter is None or self.resize_shorter < min(self.size)):
            raise ValueError(f"center_crop needs resize_shorter >= the crop size {min(self.size)}")
        return self

    @property
    def is_volume(self) -> bool:
        return len(self.size) == 3


class WeightsSpec(_Strict):
    """Where a model's weights live and how to read them."""

    urls: list[str] = Field(default_factory=list)
    filename: str | None = None
    sha256: str | None = Field(default=None, description="sha256 of the loaded file (for zip/tar: of its member)")
    source_hash: str | None = Field(default=None, description="the source's own hash (e.g. pytorchcv sha1)")
    source_hash_algo: str | None = None
    source_hash_scope: Literal["file", "archive"] = Field(
        default="file",
        description="what source_hash covers: the loaded file (for an archive, its member) or the downloaded archive",
    )
    size_bytes: int | None = None
    format: WeightFormat = "state_dict"
    archive_member: str | None = Field(default=None, description="file inside a zip/tar archive")
    inner_key: str | None = Field(default=None, description="key of the state dict inside a checkpoint dict")
    key_prefix: str | None = Field(default=None, description="prefix stripped from every state-dict key")
    strict: bool = True


class PaperInfo(_Strict):
    title: str | None = None
    url: str | None = None
    venue: str | None = None
    venue_type: str | None = None
    year: int | None = None
    country: str | None = None
    num_authors: int | None = None


class PublishedAnnotation(_Strict):
    """Values the model's publisher (or the SecurityNet table) reports; None when never measured."""

    train_accuracy: float | None = None
    test_accuracy: float | None = None
    overfit_gap: float | None = None
    source: str | None = Field(default=None, description="where these values come from")


class BackdoorInfo(_Strict):
    """Ground truth of a backdoored model, when known."""

    attack: str = Field(description="badnets, blended, wanet, unknown, ...")
    target_label: int | None = None
    trigger: dict[str, Any] = Field(default_factory=dict, description="trigger parameters (kind-specific)")
    poison_rate: float | None = None
    attack_success_rate: float | None = None


class ModelCard(_Strict):
    id: str = Field(min_length=3, pattern=r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-+/]+$")
    name: str
    source: str = Field(description="source kind: pytorchcv, medmnist, file, published, self-trained, ...")
    architecture: str | None = Field(
        default=None, description="registry id, 'pytorchcv:<name>', or an importable 'module:callable'"
    )
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    model_type: str | None = Field(default=None, description="the published 'Model Type' (resnet, vgg, ...)")
    family: str | None = None
    dataset: str
    data_category: str | None = None
    num_classes: int | None = Field(default=None, ge=1)
    train_size: int | None = Field(default=None, ge=1)
    training_split: str | None = Field(default="train", description="the split the model was trained on")
    training_indices: list[int] | None = Field(
        default=None,
        description="positions in training_split of the only examples the model saw (self-trained on a subset); "
        "None: the whole split. Members must be drawn from these.",
    )
    input: InputSpec | None = None
    output_kind: OutputKind = "logits"
    weights: WeightsSpec = Field(default_factory=WeightsSpec)
    license: str | None = None
    paper: PaperInfo = Field(default_factory=PaperInfo)
    purpose: Purpose | None = None
    published: PublishedAnnotation = Field(default_factory=PublishedAnnotation)
    backdoor: BackdoorInfo | None = None
    missing_reasons: dict[str, str] = Field(default_factory=dict, description="field -> why it is missing")
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _binary_head_has_two_classes(self) -> ModelCard:
        # One output unit is the positive class of a two-class task: the kind itself says how many classes.
        if self.output_kind in ("binary_logit", "binary_probability"):
            if self.num_classes is None:
                self.num_classes = 2
            elif self.num_classes != 2:
                raise ValueError(
                    f"output_kind {self.output_kind} (one output unit) describes a two-class task, "
                    f"but num_classes is {self.num_classes}"
                )
        return self

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str | None = None) -> ModelCard:
        """Validate a mapping into a card; errors name the card and every bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            who = data.get("id") if isinstance(data, dict) else None
            where = f" in {origin}" if origin else ""
            problems = "; ".join(
                f"{'.'.join(_field_name(p) for p in err['loc']) or '<card>'}: {' '.join(err['msg'].split())}"
                for err in exc.errors()
            )
            raise CardError(f"model card {who or '<without id>'}{where} is malformed: {problems}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> list[ModelCard]:
        """Read one card or a list of cards from a YAML file."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CardError(f"card file {path} cannot be read: {exc}") from None
        except yaml.YAMLError as exc:
            raise CardError(f"card file {path} is not valid YAML: {yaml_problem(exc)}") from None
        items = data if isinstance(data, list) else [data]
        if not items or not all(isinstance(item, dict) for item in items):
            raise CardError(f"card file {path} must hold a mapping or a list of mappings")
        return [cls.from_dict(item, origin=str(path)) for item in items]

    # --- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def fingerprint(self) -> str:
        """A short hash of the card's content, to notice when a stored card changed."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def weight_hash(self) -> str | None:
        """The best identity of the weights: sha256 when known, else the source's own hash."""
        if self.weights.sha256:
            return f"sha256:{self.weights.sha256}"
        if self.weights.source_hash:
            return f"{self.weights.source_hash_algo or 'hash'}:{self.weights.source_hash}"
        return None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line (its message shows the offending line and a caret on lines of their own)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(problem).split())


def _field_name(part: object) -> str:
    """A field name as written in an error: quoted when it is empty or holds spaces, newlines or the like."""
    text = str(part)
    return text if text and text.isprintable() and " " not in text else repr(text)
