"""Write tests/catalog/timm_parameter_counts.json: the parameter count of every pretrained timm image-classifier tag.

The random-build test of the timm source draws its 30 tags from those under a parameter budget (building 30 ViT-Huge
on 2 CPU cores would take minutes). Every parameter is created on the meta device as it is registered (no memory,
no initialisation cost) while the rest of the constructor runs on the CPU (some compute drop-path rates with
`.tolist()`, which the meta device cannot do); a tag that still cannot be built is recorded as null and left out
of that pool. Rerun after changing timm:

    python scripts/timm_parameter_counts.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import timm
import torch

from securitynet.catalog.sources.timm_hub import card_for_tag, classifier_tags
from securitynet.zoo.loader import build_module

OUT = Path(__file__).resolve().parents[1] / "tests" / "catalog" / "timm_parameter_counts.json"


_register_parameter = torch.nn.Module.register_parameter


def _register_on_meta(module: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
    _register_parameter(module, name, param)
    if param is not None:
        module._parameters[name] = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)


def count(tag: str) -> int | None:
    torch.nn.Module.register_parameter = _register_on_meta  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = build_module(card_for_tag(tag))
    except Exception:  # noqa: BLE001 - not counted; left out of the test's pool
        return None
    finally:
        torch.nn.Module.register_parameter = _register_parameter  # type: ignore[method-assign]
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    counts = {tag: count(tag) for tag in classifier_tags()}
    OUT.write_text(json.dumps({"timm_version": timm.__version__, "parameters": counts}, indent=0, sort_keys=True)
                   + "\n")
    print(f"wrote {len(counts)} counts ({sum(v is None for v in counts.values())} not countable) to {OUT}")


if __name__ == "__main__":
    main()
