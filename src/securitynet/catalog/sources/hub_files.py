"""Files on the Hugging Face Hub, named by the Hub's download URL and fetched with `huggingface_hub` into its cache.

The catalog reads a repo's config.json with these (`hf_hub`); the zoo fetches and verifies weight files with them
(`zoo.hub_weights`). Offline (`HF_HUB_OFFLINE=1` or `SECURITYNET_OFFLINE=1`) the Hub cache alone serves a file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from securitynet import config
from securitynet.errors import WeightsError

HUB_URL = re.compile(r"^https://huggingface\.co/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    revision: str
    filename: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision}/{self.filename}"


def parse_hub_url(url: str) -> HubFile | None:
    match = HUB_URL.match(url)
    if match is None:
        return None
    return HubFile(match["repo"], match["revision"], match["file"])


def hub_offline() -> bool:
    """Whether to stay off the network: HF_HUB_OFFLINE (read now, not at import) or SECURITYNET_OFFLINE."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return flag or constants.HF_HUB_OFFLINE or config.offline()


def hub_cache_dir() -> str | None:
    """HF_HUB_CACHE as set now (huggingface_hub reads it once at import); None for its default."""
    return os.environ.get("HF_HUB_CACHE") or None


def download_hub_file(file: HubFile, *, offline: bool) -> Path:
    """`hf_hub_download` into the Hub cache (offline: from it only); one-line errors."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(file.repo_id, file.filename, revision=file.revision, cache_dir=hub_cache_dir(),
                                    local_files_only=offline))
    except (EntryNotFoundError, LocalEntryNotFoundError) as exc:
        where = "in the local Hub cache (offline)" if offline else "on the Hub"
        raise FileNotFoundError(f"{file.repo_id}@{file.revision}/{file.filename} is not {where}") from exc
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(f"Hub file {file.url} cannot be fetched: {str(exc).splitlines()[0]}") from None


def snapshot_commit(path: Path, filename: str) -> str | None:
    """The commit folder of `snapshots/<commit>/<filename>` in the Hub cache layout."""
    folder = path
    for _ in Path(filename).parts:
        folder = folder.parent
    return folder.name if GIT_SHA1.match(folder.name) else None
