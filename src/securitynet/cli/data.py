"""`securitynet data ...`: which datasets exist, where their files are, and downloading them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from securitynet.cli.common import clean_errors, console, get_store
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit

data_app = typer.Typer(help="Datasets: list, show, download, register.", no_args_is_help=True)

RootsOpt = typer.Option(
    None, "--root", help="Data folder to search (repeatable); default: SECURITYNET_DATA, ../shared/data, downloads."
)


def _where(info: Any, roots: list[Path] | None) -> dict[str, str | None]:
    """split -> the folder holding it, or None when absent."""
    from securitynet.data.locate import resolve_roots

    resolved = resolve_roots(roots)
    out: dict[str, str | None] = {}
    for split in info.splits:
        located = info.loader.locate(info, split, resolved)
        out[split] = None if located is None else str(located.root)
    return out


def _where_text(where: dict[str, str | None]) -> str:
    by_root: dict[str, list[str]] = {}
    for split, root in where.items():
        by_root.setdefault(root or "absent", []).append(split)
    parts = [f"{', '.join(splits)}: {root}" for root, splits in by_root.items() if root != "absent"]
    if "absent" in by_root:
        parts.append(f"{', '.join(by_root['absent'])}: absent" if parts else "absent")
    return "; ".join(parts)


DATASET_COLUMNS = [
    Column("name", kind="id"), Column("num_classes", "classes", kind="int"), Column("shape"),
    Column("members", "splits"), Column("where", "where found"),
    Column("category", show=False), Column("official", show=False), Column("image_shape", show=False),
    Column("splits", show=False),
    Column("member_splits", show=False), Column("nonmember_split", show=False), Column("found", show=False),
]


@data_app.command("list")
@clean_errors
def list_command(
    category: str = typer.Option(None, "--category", help="natural or medical."),
    present: bool = typer.Option(False, "--present", help="Only datasets with at least one split found."),
    fmt: OutputFormat = FormatOption,
    as_json: bool = typer.Option(False, "--json", hidden=True, help="The same as --format json."),
    root: list[Path] = RootsOpt,
) -> None:
    """Every registered dataset: classes, member/non-member splits, and where its files are found."""
    from securitynet.data import list_datasets

    rows = []
    for info in list_datasets(category):
        where = _where(info, root or None)
        if present and not any(where.values()):
            continue
        rows.append({
            "name": info.name + ("" if info.official else " (unofficial)"), "official": info.official,
            "num_classes": info.num_classes, "category": info.category,
            "shape": "x".join(map(str, info.image_shape)), "image_shape": list(info.image_shape),
            "splits": list(info.splits), "member_splits": list(info.member_splits),
            "nonmember_split": info.nonmember_split,
            "members": f"{'/'.join(info.member_splits) or '-'} -> {info.nonmember_split or '-'}",
            "where": _where_text(where), "found": where,
        })
    emit(rows, DATASET_COLUMNS, "json" if as_json else fmt.value,
         title=f"{len(rows)} datasets (splits: member -> non-member)")


@data_app.command("show")
@clean_errors
def show_command(
    name: str = typer.Argument(..., help="Dataset name, e.g. mnist, gtsrb, breastmnist."),
    as_json: bool = typer.Option(False, "--json", help="JSON instead of text."),
    root: list[Path] = RootsOpt,
) -> None:
    """Everything about one dataset: description, license, splits with official sizes, and where each split is."""
    from securitynet.data import get_dataset, resolve_member_split
    from securitynet.data.locate import resolve_roots
    from securitynet.data.registry import absent_message

    info = get_dataset(name)
    roots = resolve_roots(root or None)
    member, reason = resolve_member_split(info, roots)
    splits = {}
    for split in info.splits:
        located = info.loader.locate(info, split, roots)
        splits[split] = {
            "official_size": (info.split_sizes or {}).get(split),
            "found": None if located is None else located.describe(),
            "how_to_provide": absent_message(info, split, roots) if located is None else None,
        }
    record = {
        "name": info.name,
        "official": info.official,
        "num_classes": info.num_classes,
        "category": info.category,
        "task": info.task,
        "image_shape": list(info.image_shape),
        "layout": info.layout,
        "member_splits": list(info.member_splits),
        "member_split": member,
        "member_split_reason": reason,
        "nonmember_split": info.nonmember_split,
        "license": info.license,
        "homepage": info.homepage,
        "downloadable": info.downloadable,
        "description": info.description,
        "splits": splits,
        "searched": [str(r) for r in roots],
    }
    if as_json:
        console.print_json(json.dumps(record))
        return
    console.print(f"[bold]{info.name}[/]{'' if info.official else ' [red](not the official release)[/]'}")
    console.print(info.description)
    for key in ("num_classes", "category", "task", "image_shape", "layout", "license", "homepage", "downloadable"):
        console.print(f"  {key}: {record[key]}")
    console.print(f"  member split: {member} ({reason})")
    console.print(f"  non-member split: {info.nonmember_split}")
    for split, entry in splits.items():
        size = entry["official_size"]
        size_text = f"{size:,} images" if size is not None else "size not fixed"
        console.print(f"  split [bold]{split}[/] ({size_text}): {entry['found'] or '[yellow]absent[/]'}")
        if entry["how_to_provide"]:
            console.print(f"    {entry['how_to_provide']}", markup=False, style="dim")


@data_app.command("download")
@clean_errors
def download_command(
    name: str = typer.Argument(..., help="Dataset name."),
    root: Path = typer.Option(None, "--root", help="Folder to download into (default: first SECURITYNET_DATA)."),
    split: list[str] = typer.Option(None, "--split", help="Only these splits (repeatable)."),
) -> None:
    """Download a dataset whose home allows it (torchvision / medmnist / official archive) into a data folder."""
    from securitynet.data import download_dataset, get_dataset

    info = get_dataset(name)
    where = download_dataset(info.name, root, split or None)
    console.print(f"{info.name}: files in {where}")


@data_app.command("register")
@clean_errors
def register_command() -> None:
    """Write every registered dataset (classes, shape, splits, license) into the store's datasets table."""
    from securitynet.data import dataset_record, list_datasets

    store = get_store()
    infos = list_datasets()
    for info in infos:
        store.upsert_dataset(dataset_record(info))
    console.print(f"{len(infos)} datasets written to the store")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
