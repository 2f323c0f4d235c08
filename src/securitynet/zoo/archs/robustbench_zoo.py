"""Architectures of the RobustBench model zoo, built by the ``robustbench`` package's own code.

A card names architecture ``robustbench`` with ``arch_kwargs`` ``{"dataset", "threat_model", "model"}``: the
entry of ``robustbench.model_zoo.model_dicts`` that ``robustbench.utils.load_model`` would use. The module
this builds accepts RobustBench checkpoints as they are published: a load_state_dict pre-hook applies the key
handling of ``load_model`` (see `robustbench_state_dict`), so the generic loader (``zoo.loader.load_target``,
weights_only reading, hash verification) loads them without a RobustBench-specific path.

The zoo itself is imported by ``catalog.sources.robustbench.model_zoo`` (without ``robustbench/__init__.py``,
which cannot be imported with the PyPI dependencies; see there).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn

from securitynet.catalog.sources.robustbench import model_zoo, zoo_entries
from securitynet.errors import CardError
from securitynet.zoo.archs import register_architecture

ARCHITECTURE = "robustbench"
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}

# ImageNet Swin checkpoints that load_model first passes through timm's swin checkpoint_filter_fn.
SWIN_FILTERED = frozenset({
    "Liu2023Comprehensive_Swin-B", "Liu2023Comprehensive_Swin-L", "Mo2022When_Swin-B",
    "RodriguezMunoz2024Characterizing_Swin-B", "RodriguezMunoz2024Characterizing_Swin-L",
})
# ImageNet checkpoints that already hold the normaliser wrapper's "model." keys (load_model adds it to the rest).
IMAGENET_WRAPPED = frozenset({
    "Singh2023Revisiting_ConvNeXt-T-ConvStem", "Singh2023Revisiting_ViT-B-ConvStem",
    "Singh2023Revisiting_ConvNeXt-S-ConvStem", "Singh2023Revisiting_ConvNeXt-B-ConvStem",
    "Singh2023Revisiting_ConvNeXt-L-ConvStem", "Peng2023Robust", "Chen2024Data_WRN_50_2", "Xu2024MIMIR_Swin-B",
    "Xu2024MIMIR_Swin-L",
})
# Constants that the architecture code sets (input normalisation) and that some checkpoints lack: load_model
# then loads non-strictly when the error names exactly these (robustbench.utils._safe_load_state_dict). Here
# only these keys may be missing, and they keep the values the code gave them; any other mismatch fails.
CODE_CONSTANTS = ("mu", "sigma", "mean", "std", "normalize.mean", "normalize.std")


def timm_name(dataset: str, threat_model: str, model: str) -> str:
    """The timm model name under which ``load_model`` looks for a zoo model first (its own naming rule)."""
    return f"{model.lower().replace('-', '_')}_{dataset.lower()}_{threat_model.lower()}"


def hosted_by_timm(dataset: str, threat_model: str, model: str) -> bool:
    import timm

    model_zoo()  # registers RobustBench's timm models (XCiT, DeiT, AlexNet variants)
    return timm.is_model(timm_name(dataset, threat_model, model))


def _entry(dataset: str, threat_model: str, model: str) -> Mapping[str, Any]:
    models = zoo_entries().get((dataset, threat_model))
    if models is None:
        raise CardError(f"the RobustBench model zoo has no {dataset}/{threat_model} models")
    if model not in models:
        raise CardError(f"the RobustBench model zoo has no {dataset}/{threat_model} model {model!r}")
    return models[model]


@register_architecture(ARCHITECTURE)
def build_robustbench(dataset: str, threat_model: str, model: str, num_classes: int | None = None) -> nn.Module:
    """The zoo model's architecture with random weights, ready to take its RobustBench checkpoint."""
    classes = NUM_CLASSES.get(dataset)
    if classes is None:
        raise CardError(f"RobustBench dataset {dataset!r} is not one of {', '.join(NUM_CLASSES)}")
    if num_classes is not None and num_classes != classes:
        raise CardError(f"RobustBench {dataset} models have {classes} classes, the card says {num_classes}")
    entry = _entry(dataset, threat_model, model)
    timm_hosted = hosted_by_timm(dataset, threat_model, model)
    if timm_hosted:
        # load_model's first branch: timm.create_model(..., pretrained=True); the weights come through the card.
        import timm

        module = timm.create_model(timm_name(dataset, threat_model, model), num_classes=classes, pretrained=False)
    elif entry.get("gdrive_id") == "":
        # ImageNet "Standard_R50": the zoo's lambda is normalize_model(torchvision resnet50(pretrained=True), ...),
        # which downloads torchvision's weights while building; the same module without them:
        import torchvision
        from robustbench.model_zoo.architectures.utils_architectures import normalize_model
        from robustbench.model_zoo.imagenet import mu, sigma

        module = normalize_model(torchvision.models.resnet50(weights=None), mu, sigma)
    else:
        module = entry["model"]()
    module.register_load_state_dict_pre_hook(_RobustBenchKeys(dataset, model, timm_hosted))
    return module


# --- shapes without weights ------------------------------------------------------------------------------


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Every parameter and buffer a constructor registers moves to the meta device as it is registered (the
    rule of accelerate's init_empty_weights): the constructor itself runs on the CPU, so code that reads numbers
    while building (timm's drop-path schedules call .item()) works, while the weights take no memory and their
    initialisation costs nothing."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter_on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register_parameter(module, name, param)
        if param is not None:
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    def buffer_on_meta(module: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(module, name, tensor if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def build_shapes_only(dataset: str, threat_model: str, model: str) -> tuple[nn.Module, str]:
    """The architecture with every tensor on the meta device, and how it was built: ``meta`` (the meta device
    throughout) or ``meta-parameters`` (constructor on the CPU, tensors moved to meta as they are registered).
    Raises what the constructor raises when neither works (composite models that call .cuda() while building)."""
    try:
        with torch.device("meta"):
            return build_robustbench(dataset, threat_model, model), "meta"
    except RuntimeError:
        with _parameters_on_meta():
            return build_robustbench(dataset, threat_model, model), "meta-parameters"


# --- checkpoints -----------------------------------------------------------------------------------------


def strip_key_part(state: Mapping[str, Any], part: str) -> dict[str, Any]:
    """robustbench.utils.rm_substr_from_state_dict: a key that contains `part` loses its first len(part) chars."""
    return {key[len(part):] if part in key else key: value for key, value in state.items()}


def robustbench_state_dict(state: Mapping[str, Any], dataset: str, model: str, module: nn.Module,
                           timm_hosted: bool = False) -> dict[str, Any]:
    """A RobustBench checkpoint's state dict in the key layout of `module` (its built architecture), mapped the
    way ``load_model`` maps it before ``load_state_dict``.

    Zoo checkpoints: the ``module.`` (DataParallel) and ``model.`` prefixes are stripped; for ImageNet, timm's
    Swin checkpoint filter runs where load_model runs it and the normaliser wrapper's ``model.`` is added back
    (except for the checkpoints that already hold it). timm-hosted models: load_model lets timm load the file
    into the classifier it creates, through the checkpoint filter of the classifier's timm module; RobustBench
    then wraps some of them in a normaliser (``model.``). The nesting (``state_dict`` / ``last``) is the card's
    ``weights.inner_key`` and the safe loader's business. A dict already in the module's layout is kept as is.
    """
    own = set(module.state_dict())
    if set(state) <= own:
        return dict(state)
    wrapped = isinstance(module, nn.Sequential) and hasattr(module, "normalize") and hasattr(module, "model")
    if timm_hosted:
        classifier = module.model if wrapped else module
        timm_filter = getattr(sys.modules[type(classifier).__module__], "checkpoint_filter_fn", None)
        mapped = dict(timm_filter(dict(state), classifier)) if timm_filter is not None else dict(state)
        return {f"model.{key}": value for key, value in mapped.items()} if wrapped else mapped
    mapped = strip_key_part(strip_key_part(state, "module."), "model.")
    if dataset == "imagenet":
        if model in SWIN_FILTERED and wrapped:
            from timm.models.swin_transformer import checkpoint_filter_fn

            mapped = checkpoint_filter_fn(mapped, module.model)
        if model not in IMAGENET_WRAPPED:
            mapped = {f"model.{key}": value for key, value in mapped.items()}
    return mapped


class _RobustBenchKeys:
    """load_state_dict pre-hook: a RobustBench checkpoint -> this module's keys (see `robustbench_state_dict`)."""

    def __init__(self, dataset: str, model: str, timm_hosted: bool) -> None:
        self.dataset = dataset
        self.model = model
        self.timm_hosted = timm_hosted

    def __call__(self, module: nn.Module, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
        if prefix:  # only the root module's call maps keys; its children see the mapped dict
            return
        mapped = robustbench_state_dict(state_dict, self.dataset, self.model, module, self.timm_hosted)
        own = module.state_dict()
        for key in CODE_CONSTANTS:
            if key in own and key not in mapped:
                mapped[key] = own[key]
        state_dict.clear()
        state_dict.update(mapped)
