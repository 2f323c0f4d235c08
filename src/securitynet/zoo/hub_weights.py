"""Weights on the Hugging Face Hub: fetched with `huggingface_hub` into its cache, verified by the sha256 the Hub
reports, pinned to a revision.

A card names its Hub file by the Hub's download URL, `https://huggingface.co/<repo>/resolve/<revision>/<file>`.
`hf_hub_download` keeps the file in the Hub cache (`HF_HUB_CACHE`, default ~/.cache/huggingface/hub) in its own
layout, `models--<org>--<name>/{blobs,refs,snapshots}`: the file is `blobs/<etag>`, and for a Git-LFS file (every
weight file) the etag is the sha256 the Hub reports for it. So the sha256 to check is the card's, when recorded,
else the one the Hub reports now (`get_hf_file_metadata`, online) or reported when the file was downloaded (the
blob's name, offline). The file's own sha256 must equal it, or the file is refused and nothing is loaded.

On first fetch the card is pinned: the URL names the commit the file came from and `weights.sha256` the file's
hash, so every later use reads that revision and checks that hash (the loader stores the pinned card).
Offline (`HF_HUB_OFFLINE=1` or `SECURITYNET_OFFLINE=1`) the Hub cache alone serves the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from securitynet.catalog.card import ModelCard
from securitynet.catalog.sources.hub_files import (  # the Hub file primitives the catalog reads config.json with
    GIT_SHA1,
    HubFile,
    download_hub_file,
    hub_offline,
    parse_hub_url,
    snapshot_commit,
)
from securitynet.errors import ChecksumError, WeightsError
from securitynet.zoo.file_hashes import sha256_file

SAFETENSORS = "model.safetensors"
PYTORCH_BIN = "pytorch_model.bin"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class HubFetch:
    path: Path
    sha256: str
    file: HubFile  # pinned: revision is the commit the file came from
    origin: str  # "hub" (downloaded or checked online) or "hub-cache" (offline)
    pinned_card: ModelCard


def hub_file_of(card: ModelCard) -> HubFile | None:
    """The Hub file a card's weights come from, or None when its first URL is not a Hub URL."""
    return parse_hub_url(card.weights.urls[0]) if card.weights.urls else None


def _reported_hash(file: HubFile, offline: bool) -> tuple[str | None, str | None]:
    """(etag, commit) the Hub reports now; (None, None) offline or when the Hub cannot be asked."""
    if offline:
        return None, None
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        meta = get_hf_file_metadata(hf_hub_url(file.repo_id, file.filename, revision=file.revision))
    except EntryNotFoundError as exc:
        raise FileNotFoundError(f"{file.repo_id}@{file.revision}/{file.filename} is not on the Hub") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as exc:
        raise WeightsError(f"the Hub does not serve {file.url}: {str(exc).splitlines()[0]}") from None
    except Exception:  # noqa: BLE001 - Hub unreachable: hf_hub_download then serves the cached file, verified by its blob name
        return None, None
    return (meta.etag or "").strip('"').lower() or None, meta.commit_hash


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()



def verify_hub_file(path: Path, *, recorded: str | None, reported: str | None, what: str) -> str:
    """Check the cached file against the card's sha256, else the Hub's (reported now, or the blob's name).

    Returns the file's sha256. Raises ChecksumError naming the file and both hashes.
    """
    blob = Path(os.path.realpath(path))
    expected = recorded or reported or blob.name.lower()
    actual = sha256_file(blob)
    if SHA256.match(expected):
        if actual != expected:
            whose = "the card records" if recorded else "the Hub reports"
            raise ChecksumError(f"{what}: {path} has sha256 {actual}, {whose} {expected}; the file is not used")
        if recorded and reported and SHA256.match(reported) and reported != recorded:
            raise ChecksumError(f"{what}: the Hub now reports sha256 {reported} for the pinned file, the card "
                                f"records {recorded}; the file is not used")
        return actual
    if GIT_SHA1.match(expected):  # a small file kept in git, not LFS: its etag is the git blob sha1
        if _git_blob_sha1(blob) != expected:
            raise ChecksumError(f"{what}: {path} does not have the git blob sha1 {expected} the Hub reports")
        return actual
    raise ChecksumError(f"{what}: {path} cannot be verified: neither the card nor the Hub gives its sha256")


def fetch_hub_weights(card: ModelCard, *, offline: bool = False) -> HubFetch:
    """The card's Hub file, from the Hub cache or downloaded into it, verified; with the card pinned to it.

    safetensors first: a card that still names `model.safetensors` without a recorded hash falls back to
    `pytorch_model.bin` when the repo has no safetensors file.
    """
    file = hub_file_of(card)
    if file is None:
        raise WeightsError(f"model card {card.id} names no Hugging Face Hub file")
    offline = offline or hub_offline()
    candidates = [file]
    if file.filename == SAFETENSORS and card.weights.sha256 is None:
        candidates.append(HubFile(file.repo_id, file.revision, PYTORCH_BIN))
    missing = []
    for candidate in candidates:
        try:
            reported, commit = _reported_hash(candidate, offline)
            path = download_hub_file(HubFile(candidate.repo_id, commit or candidate.revision, candidate.filename),
                                     offline=offline)
        except FileNotFoundError as exc:
            missing.append(str(exc))
            continue
        sha = verify_hub_file(path, recorded=card.weights.sha256, reported=reported, what=f"weights of {card.id}")
        revision = commit or snapshot_commit(path, candidate.filename) or candidate.revision
        pinned_file = HubFile(candidate.repo_id, revision, candidate.filename)
        return HubFetch(path, sha, pinned_file, "hub-cache" if offline else "hub", pin_card(card, pinned_file, sha))
    raise WeightsError(f"weights of {card.id} could not be fetched: {'; '.join(missing)}")


def pin_card(card: ModelCard, file: HubFile, sha256: str) -> ModelCard:
    """The card with its weights pinned: the URL at the file's commit, the file name and format, its sha256."""
    weights = card.weights.model_copy(update={
        "urls": [file.url, *card.weights.urls[1:]],
        "filename": file.filename,
        "format": "safetensors" if file.filename.endswith(".safetensors") else card.weights.format,
        "sha256": sha256,
    })
    if weights.format == "safetensors" and not file.filename.endswith(".safetensors"):
        weights.format = "state_dict"
    missing = {k: v for k, v in card.missing_reasons.items() if k != "weights.sha256"}
    return card.model_copy(update={"weights": weights, "missing_reasons": missing})
