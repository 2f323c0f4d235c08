"""`securitynet cache clean`: list what the cache holds, by kind, with sizes; remove it with --yes.

Without --yes nothing is removed: the listing says what would go. Lock files nobody holds (left by
killed processes) are always removed: they carry no data.
"""

from __future__ import annotations

import typer

from securitynet.cli.common import clean_errors, console, err_console
from securitynet.cli.output import Column, FormatOption, OutputFormat, emit

cache_app = typer.Typer(help="The weight, posterior and reference-model cache.", no_args_is_help=True)

COLUMNS = (
    Column("kind"),
    Column("item", kind="id"),
    Column("files", kind="int"),
    Column("size"),
    Column("bytes", kind="int", show=False),
    Column("removed", kind="bool", show=False),
)


@cache_app.command("clean")
@clean_errors
def clean(
    kinds: list[str] = typer.Argument(None, metavar="[KIND]...",
                                      help="Only these kinds: weights, posteriors, reference-models, "
                                           "backdoor-meta, datasets, locks (default: all)."),
    yes: bool = typer.Option(False, "--yes", help="Remove what is listed (without it, only list)."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """List what the cache holds with sizes; with --yes, remove it."""
    from securitynet import config
    from securitynet.cache_contents import KIND_NAMES, cache_entries, human_size, remove_entries, remove_stale_locks
    from securitynet.errors import SecurityNetError

    unknown = sorted(set(kinds or []) - set(KIND_NAMES))
    if unknown:
        raise SecurityNetError(f"unknown cache kind(s) {unknown}; the kinds are {', '.join(KIND_NAMES)}")
    root = config.cache_dir()
    stale_locks = remove_stale_locks(root)
    entries = cache_entries(root, kinds or None)
    kept: dict[str, str] = {}
    if yes:
        outcome = remove_entries(entries, root)
        kept = {entry.item: why for entry, why in outcome.kept}
    rows = [{"kind": e.kind, "item": e.item, "files": len(e.files), "size": human_size(e.bytes), "bytes": e.bytes,
             "removed": yes and e.item not in kept} for e in entries]
    title = f"{'removed from' if yes else 'in'} the cache {root}"
    emit(rows, COLUMNS, fmt, title=title)
    total = sum(e.bytes for e in entries if e.item not in kept)
    for item, why in kept.items():
        err_console.print(f"[yellow]kept:[/] {item}: {why}", soft_wrap=True)
    if stale_locks:
        err_console.print(f"removed {stale_locks} stale lock file(s)")
    if fmt != OutputFormat.table:
        return
    if not entries:
        console.print("the cache holds nothing of these kinds")
    elif yes:
        console.print(f"removed {len(entries) - len(kept)} item(s), {human_size(total)}")
    else:
        console.print(f"{len(entries)} item(s), {human_size(total)}; nothing removed: add --yes to remove them")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
