"""Start Datasette on a snapshot of the store, read-only, with the report served beside it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from securitynet import config
from securitynet.errors import SecurityNetError
from securitynet.serve.metadata import DATABASE, datasette_metadata
from securitynet.serve.snapshot import declared_attacks, distinct_attack_metrics, write_snapshot

REPORT_MOUNT = "report"


class ServeError(SecurityNetError):
    """The database cannot be served (Datasette missing, bad report folder)."""


def prepare(store: Any, *, folder: str | Path | None = None, report_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write the snapshot ``<folder>/securitynet.db`` and its ``metadata.json``; returns both paths."""
    folder = Path(folder) if folder else config.home_dir() / "serve"
    snapshot = write_snapshot(store, folder / f"{DATABASE}.db")
    from sqlalchemy import make_url

    source = make_url(store.url).render_as_string(hide_password=True)
    report_url = None
    if report_dir is not None:
        report_url = f"/{REPORT_MOUNT}/report.html"
    metadata = datasette_metadata(distinct_attack_metrics(snapshot), declared=declared_attacks(snapshot),
                                  report_url=report_url, source=source)
    metadata_path = folder / "metadata.json"
    metadata_path.write_text(json.dumps(metadata, indent=1), encoding="utf-8")
    return snapshot, metadata_path


def resolve_report_dir(report_dir: str | Path | None) -> Path | None:
    """The report folder to serve: the one given (it must hold report.html), or None."""
    if report_dir is None:
        return None
    path = Path(report_dir).expanduser().resolve()
    if not (path / "report.html").is_file():
        raise ServeError(f"report folder {path} has no report.html (write one with `securitynet report --out {path}`)")
    return path


def datasette_command(snapshot: Path, metadata: Path, *, host: str, port: int,
                      report_dir: Path | None = None) -> list[str]:
    command = [
        sys.executable, "-m", "datasette", "serve", "-i", str(snapshot), "--metadata", str(metadata),
        "--host", host, "--port", str(port),
        "--setting", "sql_time_limit_ms", "5000",
        "--setting", "suggest_facets", "off",
        "--setting", "default_facet_size", "15",
    ]
    if report_dir is not None:
        command += ["--static", f"{REPORT_MOUNT}:{report_dir}"]
    return command


def serve(store: Any, *, host: str = "127.0.0.1", port: int = 8001, report_dir: str | Path | None = None,
          folder: str | Path | None = None) -> NoReturn:
    """Snapshot the store, then become Datasette serving it (the process is replaced: stopping it stops
    Datasette, and no server outlives its command)."""
    import importlib.util

    if importlib.util.find_spec("datasette") is None:
        raise ServeError("Datasette is not installed: pip install datasette")
    report = resolve_report_dir(report_dir)
    snapshot, metadata = prepare(store, folder=folder, report_dir=report)
    command = datasette_command(snapshot, metadata, host=host, port=port, report_dir=report)
    store.engine.dispose()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
