"""Write src/securitynet/catalog/cards/robustbench/robustbench_zoo.json: the RobustBench model zoo as data.

Two inputs, both recorded in the file:
- the installed ``robustbench`` package's model zoo (``robustbench.model_zoo.model_dicts``): per model, where its
  weights are (Google Drive ids, or the timm model RobustBench registers with its weight URL), its ImageNet
  preprocessing, and the layout of the architecture the package builds (parameter count, state-dict entries
  and a sha256 of their names and shapes, recorded on the meta device);
- the leaderboard's ``model_info/<dataset>/<threat model>/<model>.json`` files of a RobustBench git checkout at
  one commit (read with ``git show``, nothing checked out): copied as they are.

Usage (the checkout is the public repository github.com/RobustBench/robustbench):
    PYTHONPATH=src python scripts/robustbench_catalog.py --repo PATH/TO/robustbench[.git] [--commit REV]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from securitynet.zoo.archs import robustbench_zoo as zoo

OUT = Path(__file__).resolve().parents[1] / "src/securitynet/catalog/cards/robustbench/robustbench_zoo.json"
REPOSITORY = "https://github.com/RobustBench/robustbench"
# robustbench.data.PREPROCESSINGS, as structured facts: resize (shorter side or both sides), crop, interpolation.
PREPROCESSINGS: dict[str | None, dict[str, Any]] = {
    None: {"size": None, "resize_shorter": None, "resize_both": False, "center_crop": False},
    "Res256Crop224": {"size": 224, "resize_shorter": 256, "resize_both": False, "center_crop": True,
                      "interpolation": "bilinear"},
    "BicubicRes256Crop224": {"size": 224, "resize_shorter": 256, "resize_both": False, "center_crop": True,
                             "interpolation": "bicubic"},
    "Crop288": {"size": 288, "resize_shorter": None, "resize_both": False, "center_crop": True},
    "Res224": {"size": 224, "resize_shorter": None, "resize_both": True, "center_crop": False,
               "interpolation": "bilinear"},
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def read_model_info(repo: Path, commit: str) -> dict[str, dict[str, dict[str, Any]]]:
    info: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(git(repo, "ls-tree", "-r", "--name-only", commit, "model_info").split()):
        parts = path.split("/")
        if len(parts) != 4 or not parts[3].endswith(".json"):
            continue
        _, dataset, threat, file_name = parts
        info.setdefault(dataset, {}).setdefault(threat, {})[file_name.removesuffix(".json")] = json.loads(
            git(repo, "show", f"{commit}:{path}"))
    return info


def timm_preprocessing(name: str) -> dict[str, Any]:
    """robustbench.data.get_timm_model_preprocessing as facts: Resize(floor(size / crop_pct)), CenterCrop(size)."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    size = cfg.input_size[1]
    return {"size": size, "resize_shorter": int(size // cfg.crop_pct), "resize_both": False, "center_crop": True,
            "interpolation": cfg.interpolation}


def layout(dataset: str, threat: str, model: str) -> dict[str, Any]:
    try:
        module, device = zoo.build_shapes_only(dataset, threat, model)
    except RuntimeError:  # geotorch and MixedNUTS read real numbers from their parameters while building
        try:
            module, device = zoo.build_robustbench(dataset, threat, model), "cpu"
        except Exception as exc:  # noqa: BLE001 - recorded: composite models call .cuda() while building
            return {"recorded_on": None, "build_error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    shapes = [[key, list(tensor.shape)] for key, tensor in module.state_dict().items()]
    return {
        "parameters": sum(p.numel() for p in module.parameters()),
        "state_dict_entries": len(shapes),
        "state_dict_sha256": hashlib.sha256(json.dumps(shapes).encode()).hexdigest(),
        "recorded_on": device,
    }


def zoo_record(dataset: str, threat: str, model: str, entry: dict[str, Any]) -> dict[str, Any]:
    ids = entry.get("gdrive_id")
    record: dict[str, Any] = {"gdrive_ids": ids if isinstance(ids, list) else ([ids] if ids else []),
                              "ensemble": isinstance(ids, list), "preprocessing": entry.get("preprocessing")}
    if zoo.hosted_by_timm(dataset, threat, model):
        import timm

        name = zoo.timm_name(dataset, threat, model)
        record["timm"] = {"name": name, "url": timm.models.get_pretrained_cfg(name).url}
        facts = timm_preprocessing(name) if dataset == "imagenet" else PREPROCESSINGS[None]
    else:
        facts = PREPROCESSINGS[entry.get("preprocessing")] if dataset == "imagenet" else PREPROCESSINGS[None]
    if ids == "":
        import torchvision

        record["torchvision_weights"] = {"enum": "ResNet50_Weights.IMAGENET1K_V1",
                                         "url": torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url}
    record["input"] = facts
    record["layout"] = layout(dataset, threat, model)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="a git checkout (or bare mirror) of RobustBench")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    commit = git(args.repo, "rev-parse", args.commit).strip()
    zoo_models: dict[str, dict[str, dict[str, Any]]] = {}
    for (dataset, threat), models in zoo.zoo_entries().items():
        for model, entry in models.items():
            print(f"{dataset}/{threat}/{model}", file=sys.stderr)
            zoo_models.setdefault(dataset, {}).setdefault(threat, {})[model] = zoo_record(dataset, threat, model,
                                                                                            dict(entry))
    data = {
        "about": "The RobustBench model zoo (robustbench.model_zoo.model_dicts of the installed package) and the "
        "leaderboard's model_info files (copied from the repository at the commit below), written by "
        "scripts/robustbench_catalog.py. Accuracies in model_info are percentages, as published.",
        "repository": REPOSITORY,
        "commit": commit,
        "commit_date": git(args.repo, "show", "-s", "--format=%cI", commit).strip(),
        "package": f"robustbench=={version('robustbench')}",
        "timm": version("timm"),
        "gdrive_url_template": "https://docs.google.com/uc?export=download&confirm=t&id={id}",
        "model_info_path": "model_info/{dataset}/{threat_model}/{model}.json",
        "zoo": zoo_models,
        "model_info": read_model_info(args.repo, commit),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
