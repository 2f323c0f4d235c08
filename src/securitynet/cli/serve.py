"""`securitynet serve`: browse the database in Datasette (read-only snapshot, facets, canned queries)."""

from __future__ import annotations

from pathlib import Path

import typer

from securitynet.cli.common import clean_errors, console, get_store


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @clean_errors
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
        port: int = typer.Option(8001, "--port", "-p", min=0, max=65535, help="Port to listen on."),
        report: Path = typer.Option(None, "--report", help="A folder written by `securitynet report`, served at "
                                                            "/report/ and linked from the front page."),
        folder: Path = typer.Option(None, "--folder", help="Where to write the snapshot (default: "
                                                            "$SECURITYNET_HOME/serve)."),
    ) -> None:
        """Copy the store into a read-only SQLite snapshot and open it in Datasette."""
        from securitynet.serve.server import serve as run

        store = get_store(read_only=True)
        console.print(f"serving a read-only snapshot of {store.url.split('@')[-1]} on http://{host}:{port}/ "
                      "(Ctrl+C to stop)", highlight=False, soft_wrap=True)
        run(store, host=host, port=port, report_dir=report, folder=folder)
