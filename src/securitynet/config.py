"""Where SecurityNet keeps its database, caches and data, overridable by environment variables.

SECURITYNET_HOME      folder for the default database and artifacts (default: the user data dir)
SECURITYNET_DB        SQLAlchemy URL of the store (default: SQLite file under SECURITYNET_HOME)
SECURITYNET_CACHE     weight and posterior cache folder (default: the user cache dir)
SECURITYNET_MIRROR    folders (os.pathsep separated) holding weight files by name: used before any download
SECURITYNET_OFFLINE   1/true/yes: never download weights; use mirrors and the cache only
SECURITYNET_DATA      folders (os.pathsep separated) holding datasets
SECURITYNET_SHARED_DATA  the offline data folder (default: a `shared/data` beside the project, if any)
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "securitynet"


def _paths_from_env(name: str) -> list[Path]:
    raw = os.environ.get(name, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def home_dir() -> Path:
    path = Path(os.environ.get("SECURITYNET_HOME") or platformdirs.user_data_dir(APP_NAME)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    path = Path(os.environ.get("SECURITYNET_CACHE") or platformdirs.user_cache_dir(APP_NAME)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir() -> Path:
    path = home_dir() / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(explicit: str | None = None) -> str:
    """The store's SQLAlchemy URL: an explicit value, then SECURITYNET_DB, then a SQLite file.

    A plain path means a SQLite file; its folder is created so a first run never fails on it.
    """
    value = explicit or os.environ.get("SECURITYNET_DB")
    if not value:
        return f"sqlite:///{home_dir() / 'securitynet.sqlite'}"
    if "://" not in value:
        value = f"sqlite:///{Path(value).expanduser().resolve()}"
    for scheme in ("postgresql://", "postgres://"):  # a plain PostgreSQL URL: psycopg 3, the driver installed
        if value.startswith(scheme):
            value = "postgresql+psycopg://" + value.removeprefix(scheme)
    if value.startswith("sqlite:///") and value != "sqlite:///:memory:":
        Path(value.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return value


def mirror_dirs() -> list[Path]:
    return _paths_from_env("SECURITYNET_MIRROR")


def offline() -> bool:
    """True when SECURITYNET_OFFLINE asks never to download (clusters without internet access)."""
    return os.environ.get("SECURITYNET_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def data_roots() -> list[Path]:
    """Folders searched for datasets: SECURITYNET_DATA first, then the offline shared data folder."""
    roots = _paths_from_env("SECURITYNET_DATA")
    shared = shared_data_dir()
    if shared is not None:
        roots.append(shared)
    return roots


def shared_data_dir() -> Path | None:
    """The offline data folder (`shared/data` beside the project checkout), or None when absent."""
    env = os.environ.get("SECURITYNET_SHARED_DATA")
    if env:
        path = Path(env).expanduser()
        return path if path.is_dir() else None
    here = Path(__file__).resolve()
    for parent in [Path.cwd().resolve(), *here.parents]:
        candidate = parent.parent / "shared" / "data"
        if (candidate / "MANIFEST.tsv").is_file():
            return candidate
    return None
