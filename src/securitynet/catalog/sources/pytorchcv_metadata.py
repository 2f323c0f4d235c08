"""What the installed pytorchcv package says about its pretrained models, read without importing it.

pytorchcv (the PyTorch half of osmr/imgclsmob) ships everything a model card needs as data:

- ``pytorchcv/models/common/model_metainfos.csv``: one row per model with its trainable-weight count,
  error code, the sha1 of the released ``.pth``, the GitHub release tag, caption, arXiv id, test
  dataset (``cf`` CIFAR/SVHN, ``cub``, ``in1k``, ...) and the ImageNet evaluation size and crop ratio;
- ``pytorchcv/models/common/model_store.py``: the imgclsmob repository URL the weights are released under;
- ``pytorchcv/model_provider.py``: the ``_models`` table (model name -> constructor) and which module
  defines each constructor (the architecture family);
- each constructor's docstring, naming the paper (``... from 'Title,' https://arxiv.org/abs/...``);
- the distribution's METADATA (its README), whose result tables give the top-1 *and* top-5 error of
  every released weight file, keyed by the weight file's name in the training-log link.

Everything here is read as text (csv, ast, regular expressions), so listing the catalog imports neither
torch nor pytorchcv and constructs no model.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from securitynet.errors import CardError

PACKAGE = "pytorchcv"
METAINFO_FILE = ("models", "common", "model_metainfos.csv")
MODEL_STORE_FILE = ("models", "common", "model_store.py")
PROVIDER_FILE = ("model_provider.py",)

# pytorchcv writes "NA" for a value it does not have.
_NA = "NA"
_LOG_LINK = re.compile(
    r"releases/download/(?P<tag>[^/\s)]+)/(?P<name>[A-Za-z0-9_.]+?)-(?P<error>\d{4})-(?P<sha8>[0-9a-f]{8})\.\w+\.log"
)
_TOP_LEVEL_DEF = re.compile(r"^def (\w+)\(", re.M)
_TOP_LEVEL_BLOCK = re.compile(r"^(?:def|class|@)\S*", re.M)
_DOCSTRING = re.compile(r'"""(.*?)"""', re.S)
_PAPER = re.compile(r"from\s+'(?P<title>.+?),?'\s*,?\s+(?P<url>https?://\S+)", re.S)


@dataclass(frozen=True)
class MetaInfo:
    """One row of pytorchcv's model_metainfos.csv, with its pretrained-weight fields present."""

    name: str
    net_weights: int | None
    error_code: str
    sha1: str
    release_tag: str
    caption: str | None
    arxiv: str | None
    test_dataset: str | None
    img_size: int | None
    img_scale: float | None
    remark: str | None

    @property
    def file_stem(self) -> str:
        """pytorchcv's weight file name without extension: ``{name}-{error}-{sha1[:8]}``."""
        return f"{self.name}-{self.error_code}-{self.sha1[:8]}"


@dataclass(frozen=True)
class PublishedError:
    """One weight file's row in a result table of the package README (errors in percent)."""

    section: str
    release_tag: str
    sha8: str
    top1_error: float | None
    top5_error: float | None


@lru_cache(maxsize=1)
def package_dir() -> Path:
    """The installed pytorchcv package folder, found without executing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CardError("the pytorchcv package is not installed, so its model cards cannot be generated")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def package_version() -> str:
    return importlib.metadata.version(PACKAGE)


@lru_cache(maxsize=1)
def package_license() -> str | None:
    """The license the distribution declares (``License-Expression``, else ``License``)."""
    meta = importlib.metadata.metadata(PACKAGE)
    return meta.get("License-Expression") or meta.get("License") or None


def _file(parts: tuple[str, ...]) -> Path:
    path = package_dir().joinpath(*parts)
    if not path.is_file():
        raise CardError(f"pytorchcv {package_version()} has no {'/'.join(parts)}; its layout is not the expected one")
    return path


def _optional(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", _NA) else value


@lru_cache(maxsize=1)
def load_metainfos() -> dict[str, MetaInfo]:
    """Every model of model_metainfos.csv that has released weights (sha1, error code and release tag).

    The CSV lists a few names twice, once with weights and once without (pytorchcv 0.0.74: ``irevnet301``).
    pytorchcv's own ``get_model_metainfo_dict`` keeps the last row and so loses those weights; the row that
    has them is the real release (its file is in the README's result table), so it wins here. Two rows
    with *different* weights for one name would be ambiguous and raise.
    """
    path = _file(METAINFO_FILE)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    required = {"model_name", "net_weights", "error_value", "checksum", "repo_release_tag", "test_dataset"}
    if not rows or not required <= set(rows[0]):
        raise CardError(f"{path} lacks the columns {sorted(required)}; pytorchcv changed its metadata format")
    found: dict[str, MetaInfo] = {}
    for row in rows:
        sha1 = _optional(row["checksum"])
        error_code = _optional(row["error_value"])
        tag = _optional(row["repo_release_tag"])
        if not (sha1 and error_code and tag):
            continue  # pytorchcv knows the architecture but released no weights for it
        if not re.fullmatch(r"[0-9a-f]{40}", sha1) or not re.fullmatch(r"\d{4}", error_code):
            raise CardError(f"{path}: model {row['model_name']} has a malformed sha1 {sha1!r} or error {error_code!r}")
        info = MetaInfo(
            name=row["model_name"].strip(),
            net_weights=int(row["net_weights"]) if row["net_weights"].strip().isdigit() else None,
            error_code=error_code,
            sha1=sha1,
            release_tag=tag,
            caption=_optional(row.get("model_caption", "")),
            arxiv=_optional(row.get("arxiv_paper", "")),
            test_dataset=_optional(row["test_dataset"]),
            img_size=int(row["img_size"]) if row.get("img_size", "").strip().isdigit() else None,
            img_scale=float(row["img_scale"]) if _optional(row.get("img_scale", "")) else None,
            remark=_optional(row.get("remark", "")),
        )
        previous = found.get(info.name)
        if previous is not None and previous != info:
            raise CardError(f"{path} lists model {info.name} twice with different weights")
        found[info.name] = info
    return found


@lru_cache(maxsize=1)
def repo_url() -> str:
    """``imgclsmob_repo_url`` of pytorchcv's model_store.py, the base of every release URL."""
    path = _file(MODEL_STORE_FILE)
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "imgclsmob_repo_url" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value.rstrip("/")
    raise CardError(f"{path} defines no imgclsmob_repo_url; pytorchcv changed how it names its weight URLs")


@lru_cache(maxsize=1)
def model_modules() -> dict[str, str]:
    """Model name -> the pytorchcv.models module that defines its constructor (from model_provider.py)."""
    path = _file(PROVIDER_FILE)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    symbol_module: dict[str, str] = {}
    table: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("models."):
            for alias in node.names:
                symbol_module[alias.asname or alias.name] = node.module.split(".", 1)[1]
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_models" for t in node.targets):
            if not isinstance(node.value, ast.Dict):
                break
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Name):
                    table[key.value] = value.id
    if not table:
        raise CardError(f"{path} has no _models table; pytorchcv changed how it lists its models")
    return {name: symbol_module[symbol] for name, symbol in table.items() if symbol in symbol_module}


@cache
def _module_docstrings(module: str) -> dict[str, str]:
    """Function name -> docstring of the top-level functions of one pytorchcv.models module.

    A text scan rather than ``ast``: parsing the hundred model files costs ten times as long, and a
    constructor's docstring is simply the first triple-quoted string of its body.
    """
    path = package_dir() / "models" / f"{module}.py"
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    starts = [(match.start(), match.group(1)) for match in _TOP_LEVEL_DEF.finditer(text)]
    bounds = [match.start() for match in _TOP_LEVEL_BLOCK.finditer(text)] + [len(text)]
    docs: dict[str, str] = {}
    for start, name in starts:
        end = next(b for b in bounds if b > start)
        doc = _DOCSTRING.search(text, start, end)
        if doc:
            docs.setdefault(name, doc.group(1))
    return docs


def paper_of(name: str) -> tuple[str | None, str | None]:
    """(title, url) of the paper a model's constructor docstring cites, or (None, None)."""
    module = model_modules().get(name)
    if module is None:
        return None, None
    doc = _module_docstrings(module).get(name)
    if not doc:
        return None, None
    summary = " ".join(re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0].split())
    match = _PAPER.search(summary)
    if not match:
        return None, None
    return match.group("title").strip().rstrip(","), match.group("url").rstrip(".,")


@lru_cache(maxsize=1)
def readme_errors() -> dict[tuple[str, str], list[PublishedError]]:
    """(model name, error code) -> the README result rows of weight files with that name and error.

    The README is the distribution's long description (METADATA). Its tables are "Model | Top1 | Top5 |
    ..." for ImageNet-1K and "Model | Error, % | ..." for CIFAR, SVHN and CUB, each row linking the
    training log ``.../releases/download/{tag}/{name}-{error}-{sha1[:8]}.{pth|npz}.log``. The link's tag
    or hash can differ from the CSV's (a log kept with an earlier release, or the Gluon ``.npz`` a model
    was converted from), so :func:`readme_row` matches on name and error plus either of them.
    """
    dist = importlib.metadata.distribution(PACKAGE)
    text = dist.read_text("METADATA") or ""
    found: dict[tuple[str, str], list[PublishedError]] = {}
    section = ""
    header: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            header = []
            continue
        if not line.startswith("|"):
            header = []  # a table ends at the first line that is not a table row
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not header:
            header = [cell.lower() for cell in cells]
            continue
        link = _LOG_LINK.search(line)
        if link is None or len(cells) != len(header):
            continue
        values = dict(zip(header, cells, strict=True))
        top1 = _percent(values.get("top1") or values.get("error, %"))
        top5 = _percent(values.get("top5"))
        row = PublishedError(section, link["tag"], link["sha8"], top1, top5)
        found.setdefault((link["name"], link["error"]), []).append(row)
    return found


def readme_row(info: MetaInfo) -> PublishedError | None:
    """The README result row of exactly these weights: same name and error, and same hash or release."""
    rows = readme_errors().get((info.name, info.error_code), [])
    for row in rows:
        if row.sha8 == info.sha1[:8]:
            return row
    same_release = [row for row in rows if row.release_tag == info.release_tag]
    return same_release[0] if len(same_release) == 1 else None


def _percent(cell: str | None) -> float | None:
    try:
        return float(cell) if cell else None
    except ValueError:
        return None
