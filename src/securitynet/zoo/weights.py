"""Weights: find them in a mirror or the cache, else download them; verify the hash before any use.

Lookup order for a card (first verified hit wins):
1. each mirror folder (`mirrors` argument, then SECURITYNET_MIRROR): `<mirror>/<card id>/<name>` or
   `<mirror>/<name>`, used in place; for archive formats the archive itself is accepted too and
   only the needed member is extracted into the cache;
2. the cache: `<cache>/weights/<card id>/<name>` (a file that no longer verifies is removed);
3. each URL of the card in turn, downloaded with retries and resume (`zoo.download`).

What is verified: `sha256` always covers the file that is loaded (for zip/tar formats: the member);
`source_hash` (with `source_hash_algo`) covers that file too, or the downloaded archive when
`source_hash_scope == "archive"` (e.g. a Zenodo md5). A download is written to `<name>.part`,
verified, then renamed, so the cache only ever holds verified files: a mismatch removes the
`.part`; only an interrupted transfer keeps it, to be resumed next time. A card without any hash
is fetched but reported as unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from filelock import FileLock

from securitynet import config
from securitynet.cache_contents import remove_empty_dirs
from securitynet.catalog.card import ModelCard, WeightsSpec
from securitynet.errors import ChecksumError, UnsafeWeightsError, WeightsError
from securitynet.zoo.archives import extract_member, file_members, normalise_name, strip_archive_suffix
from securitynet.zoo.download import DEFAULT_POLICY, DownloadFailed, DownloadPolicy, discard_partial, download
from securitynet.zoo.file_hashes import file_digests, sha256_file
from securitynet.zoo.safe_load import load_checkpoint, load_state_dict_file

__all__ = [
    "Attempt",
    "FetchOutcome",
    "fetch_weights",
    "file_digests",
    "load_checkpoint",
    "load_state_dict_file",
    "local_filename",
    "sha256_file",
    "try_fetch",
    "verify_file",
    "weight_filename",
]

ARCHIVE_FORMATS = ("zip", "tar")
HashScope = str  # "file" or "archive"


def _is_local(url: str) -> bool:
    return url.lower().startswith("file:")


def _local_path(url: str) -> Path:
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    return Path(url2pathname(urlparse(url).path))


# --- hashes ---------------------------------------------------------------------------------------


PREFIX_SUFFIX = "-prefix"


def _algorithm(name: str) -> str:
    """A hashlib name; `<algo>-prefix` (kept as such) means the value is the start of that digest, the rule of
    torch.hub's `check_hash` for files named `<name>-<first hex digits of the sha256>.pth` (torchvision, timm)."""
    name = name.strip().lower()
    prefix = name.endswith(PREFIX_SUFFIX)
    algo = name.removesuffix(PREFIX_SUFFIX).replace("-", "")
    if algo not in hashlib.algorithms_available:
        raise WeightsError(f"unknown hash algorithm {name!r}")
    return algo + PREFIX_SUFFIX if prefix else algo


def _digest_matches(actual: dict[str, str], algo: str, value: str) -> bool:
    if algo.endswith(PREFIX_SUFFIX):
        return len(value) >= 8 and actual[algo.removesuffix(PREFIX_SUFFIX)].startswith(value)
    return actual[algo] == value


def expected_hashes(spec: WeightsSpec, scope: HashScope = "file") -> dict[str, str]:
    """The hashes the card promises for the loaded file (`scope="file"`) or the downloaded archive."""
    expected: dict[str, str] = {}
    if scope == "file" and spec.sha256:
        expected["sha256"] = spec.sha256.strip().lower()
    if spec.source_hash and spec.source_hash_scope == scope:
        if not spec.source_hash_algo:
            raise WeightsError(f"weights spec gives source_hash {spec.source_hash} without source_hash_algo")
        algo = _algorithm(spec.source_hash_algo)
        value = spec.source_hash.strip().lower()
        if expected.get(algo, value) != value:
            raise WeightsError(f"weights spec gives two different {algo} hashes: {expected[algo]} and {value}")
        expected[algo] = value
    return expected


def verify_file(path: Path, spec: WeightsSpec, *, what: str, scope: HashScope = "file") -> str:
    """Check `path` against every hash the card gives for `scope`; returns the file's sha256.

    Raises ChecksumError naming the file, the expected and the actual hash.
    """
    path = Path(path)
    expected = expected_hashes(spec, scope)
    if scope == "file" and spec.size_bytes is not None and spec.format not in ARCHIVE_FORMATS:
        size = path.stat().st_size
        if size != spec.size_bytes:
            raise ChecksumError(f"{what}: {path} has {size} bytes, expected {spec.size_bytes}")
    actual = file_digests(path, {"sha256", *(algo.removesuffix(PREFIX_SUFFIX) for algo in expected)})
    for algo, value in expected.items():
        if not _digest_matches(actual, algo, value):
            base = algo.removesuffix(PREFIX_SUFFIX)
            wanted = f"one starting {value}" if base != algo else value
            raise ChecksumError(f"{what}: {path} has {base} {actual[base]}, expected {wanted}")
    return actual["sha256"]


# --- names and places -----------------------------------------------------------------------------


def _plain_name(name: str, what: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise WeightsError(f"{what} {name!r} is not a plain file name")
    return name


def weight_filename(spec: WeightsSpec) -> str:
    """Name of the file that is downloaded (the archive itself for zip/tar formats)."""
    if spec.filename:
        return _plain_name(spec.filename, "weights file name")
    if spec.urls:
        return _plain_name(spec.urls[0].split("?")[0].split("#")[0].rstrip("/").rsplit("/", 1)[-1], "URL file name")
    raise WeightsError("weights spec names neither a file name nor a URL")


def local_filename(spec: WeightsSpec) -> str:
    """Name of the file that is loaded: the archive member's base name for zip/tar formats."""
    if spec.format not in ARCHIVE_FORMATS:
        return weight_filename(spec)
    if spec.archive_member:
        return _plain_name(PurePosixPath(normalise_name(spec.archive_member)).name, "archive member name")
    return strip_archive_suffix(weight_filename(spec))


def _safe_parts(card_id: str) -> list[str]:
    # Card ids may contain "." and ".."-looking parts; they must never climb out of the cache.
    return [part if part not in ("", ".", "..") else part.replace(".", "_") or "_" for part in card_id.split("/")]


def card_cache_dir(card: ModelCard) -> Path:
    return config.cache_dir() / "weights" / Path(*_safe_parts(card.id))


def _archive_cache_path(spec: WeightsSpec) -> Path:
    # Keyed by the archive's first URL: several cards (e.g. MedMNIST) share one archive.
    key = hashlib.sha256((spec.urls[0] if spec.urls else weight_filename(spec)).encode()).hexdigest()[:16]
    return config.cache_dir() / "weights-archives" / key / weight_filename(spec)


def _provenance_path(final: Path) -> Path:
    # Written next to a member extracted from an archive verified by an archive-scope hash, so a later
    # cache hit can still show (and check) that chain of verification.
    return final.with_name(final.name + ".provenance.json")


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold the fetch lock of `path`; the lock file is removed before release, so none is left behind.
    Removing it while held is safe: filelock checks after locking that its file is still linked, so a
    process that waited on the removed file takes a fresh one. A killed process's file stays until
    `securitynet cache clean` removes it (cache_contents.remove_stale_locks)."""
    # Locks live apart from the weights, so a failed fetch leaves the weights folders empty.
    folder = config.cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / (hashlib.sha256(str(path).encode()).hexdigest()[:24] + ".lock")
    with FileLock(str(lock_path)):
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)


# --- fetching -------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One place that was tried: `kind` is ok, missing, checksum, unsafe, corrupt, http, network, offline, no-url."""

    source: str
    kind: str
    detail: str


@dataclass
class FetchOutcome:
    card_id: str
    path: Path | None = None
    sha256: str | None = None
    origin: str | None = None  # mirror, mirror-archive, cache, cache-archive, download
    verified_with: list[str] = field(default_factory=list)  # hash algorithms checked; empty = unverified
    attempts: list[Attempt] = field(default_factory=list)
    error: WeightsError | None = None
    # Hub weights: the card pinned to the fetched revision and sha256, to be stored (see zoo.hub_weights).
    pinned_card: ModelCard | None = None

    @property
    def ok(self) -> bool:
        return self.path is not None and self.error is None

    @property
    def reason(self) -> str | None:
        """Why it failed, in one line (the decisive attempts, not the places where it simply wasn't)."""
        if self.ok:
            return None
        decisive = [a for a in self.attempts if a.kind not in ("missing", "ok")]
        chosen = decisive or self.attempts
        if not chosen:
            return str(self.error) if self.error else None
        return "; ".join(f"{a.source}: {a.detail}" if a.source != "card" else a.detail for a in chosen)


class _Fetcher:
    def __init__(
        self,
        card: ModelCard,
        *,
        offline: bool,
        progress: bool,
        mirrors: Sequence[Path],
        policy: DownloadPolicy,
    ) -> None:
        self.card = card
        self.spec = card.weights
        self.offline = offline
        self.progress = progress
        self.mirrors = [Path(m).expanduser() for m in mirrors]
        self.policy = policy
        self.outcome = FetchOutcome(card.id)
        self.what = f"weights of {card.id}"
        self.is_archive = self.spec.format in ARCHIVE_FORMATS

    # Each step returns True when the outcome holds a verified file.

    def run(self) -> FetchOutcome:
        try:
            self.download_name = weight_filename(self.spec)
            self.local_name = local_filename(self.spec)
            self.file_hashes = expected_hashes(self.spec, "file")
            self.archive_hashes = expected_hashes(self.spec, "archive")
        except WeightsError as exc:
            detail = "the card names no weight URL or file" if not self.spec.urls else str(exc)
            kind = "no-url" if not self.spec.urls and not self.spec.filename else "card"
            self.outcome.attempts.append(Attempt("card", kind, detail))
            return self._fail()
        self.card_dir = card_cache_dir(self.card)
        self.final = self.card_dir / self.local_name
        for folder in [*self.mirrors, *config.mirror_dirs()]:
            if self._from_mirror(folder):
                return self.outcome
        # A local file named by the card (a YAML card's path becomes a file:// URL) is used in place, even offline.
        for url in self.spec.urls:
            if _is_local(url) and self._from_local(url):
                return self.outcome
        with _lock(self.final):
            if self._from_cache():
                return self.outcome
            if self.offline:
                self._note("download", "offline", "offline, and not in a mirror or the cache")
                return self._fail()
            if not self.spec.urls:
                self._note("download", "no-url", "the card has no weight URL, and the file is not mirrored or cached")
                return self._fail()
            for url in self.spec.urls:
                if not _is_local(url) and self._from_url(url):
                    return self.outcome
        return self._fail()

    def _note(self, source: str, kind: str, detail: str) -> None:
        self.outcome.attempts.append(Attempt(source, kind, detail))

    def _succeed(self, path: Path, sha256: str, origin: str, source: str, *, archive_verified: bool = False) -> bool:
        self.outcome.path, self.outcome.sha256, self.outcome.origin = path, sha256, origin
        verified = sorted(self.file_hashes)
        if archive_verified:
            verified += [f"{algo} (archive)" for algo in sorted(self.archive_hashes)]
        self.outcome.verified_with = verified
        self._note(source, "ok", str(path))
        return True

    def _fail(self) -> FetchOutcome:
        kinds = {a.kind for a in self.outcome.attempts}
        lines = "\n".join(f"  - {a.source}: {a.detail}" for a in self.outcome.attempts)
        name = getattr(self, "local_name", None) or "weights"
        message = f"{self.what} ({name}) could not be fetched:\n{lines}"
        error_class: type[WeightsError] = WeightsError
        if "unsafe" in kinds:
            error_class = UnsafeWeightsError
        elif "checksum" in kinds:
            error_class = ChecksumError
        self.outcome.error = error_class(message)
        if hasattr(self, "card_dir"):
            remove_empty_dirs(self.card_dir, config.cache_dir())
        return self.outcome

    def _verify(self, path: Path, source: str, scope: HashScope) -> str | None:
        """sha256 of a verified file, or None after noting why it does not verify."""
        try:
            return verify_file(path, self.spec, what=self.what, scope=scope)
        except ChecksumError as exc:
            self._note(source, "checksum", f"checksum mismatch: {exc}")
        except OSError as exc:
            self._note(source, "corrupt", f"cannot read {path}: {exc}")
        return None

    def _from_mirror(self, folder: Path) -> bool:
        source = f"mirror {folder}"
        sub = folder.joinpath(*_safe_parts(self.card.id))
        seen = False
        for candidate in (sub / self.local_name, folder / self.local_name):
            if candidate.is_file():
                seen = True
                sha = self._verify(candidate, f"{source} ({candidate.name})", "file")
                if sha is not None:
                    return self._succeed(candidate, sha, "mirror", source)
        if self.is_archive:
            for candidate in (sub / self.download_name, folder / self.download_name):
                if candidate.is_file():
                    seen = True
                    with _lock(self.final):
                        if self._extract(candidate, f"{source} ({candidate.name})", "mirror-archive", keep=True):
                            return True
        if not seen:
            self._note(source, "missing", "not there")
        return False

    def _from_local(self, url: str) -> bool:
        path = _local_path(url)
        source = f"local file {path}"
        if not path.is_file():
            self._note(source, "missing", "not there")
            return False
        if self.is_archive:
            with _lock(self.final):
                return self._extract(path, source, "local-archive", keep=True)
        sha = self._verify(path, source, "file")
        return sha is not None and self._succeed(path, sha, "local", source)

    def _from_cache(self) -> bool:
        if self.final.is_file():
            sha = self._verify_cached()
            if sha is not None:
                return self._succeed(self.final, sha, "cache", "cache", archive_verified=self._provenance_matches())
            self.final.unlink(missing_ok=True)  # our own copy no longer verifies: fetch it again
            _provenance_path(self.final).unlink(missing_ok=True)
        else:
            self._note("cache", "missing", "not there")
        if self.is_archive:
            archive = _archive_cache_path(self.spec)
            with _lock(archive):
                if archive.is_file() and self._extract(archive, "cache (archive)", "cache-archive", keep=False):
                    return True
        return False

    def _provenance_matches(self) -> bool:
        """Whether the cached member was extracted from an archive that verified against this card's hashes."""
        try:
            record = json.loads(_provenance_path(self.final).read_text())
        except (OSError, ValueError):
            return False
        return bool(self.archive_hashes) and record.get("archive_hashes") == self.archive_hashes

    def _verify_cached(self) -> str | None:
        """Verify a cached file; one extracted from a verified archive must still have its sha256 of then."""
        sha = self._verify(self.final, "cache", "file")
        if sha is None or self.file_hashes or not self._provenance_matches():
            return sha
        recorded = json.loads(_provenance_path(self.final).read_text()).get("sha256")
        if recorded != sha:
            self._note("cache", "checksum", f"checksum mismatch: {self.final} has sha256 {sha}, expected {recorded}")
            return None
        return sha

    def _from_url(self, url: str) -> bool:
        target = _archive_cache_path(self.spec) if self.is_archive else self.final
        part = target.with_name(target.name + ".part")
        # run() already holds the lock of self.final; a shared archive needs its own.
        with _lock(target) if self.is_archive else nullcontext():
            try:
                download(url, part, policy=self.policy, progress=self.progress, label=self.card.id)
            except DownloadFailed as exc:
                if exc.kind == "http":
                    discard_partial(part)  # the server said no: nothing worth resuming
                remove_empty_dirs(part.parent, config.cache_dir())
                self._note(url, exc.kind, exc.reason)
                return False
            scope = "archive" if self.is_archive else "file"
            sha = self._verify(part, url, scope)
            if sha is None:
                discard_partial(part)
                remove_empty_dirs(part.parent, config.cache_dir())
                return False
            os.replace(part, target)
            discard_partial(part)
            if not self.is_archive:
                return self._succeed(target, sha, "download", url)
            return self._extract(target, url, "download", keep=False, verified=True)

    def _extract(self, archive: Path, source: str, origin: str, *, keep: bool, verified: bool = False) -> bool:
        """Verify an archive, extract the member into the cache through a `.part` file, and verify it.

        `keep=True` never deletes the archive (a mirror's). Otherwise a cached archive is deleted when it
        fails, or when it held nothing but this member (other members may serve other cards).
        """
        if self.archive_hashes and not verified and self._verify(archive, source, "archive") is None:
            self._drop_archive(archive, keep)
            return False
        self.card_dir.mkdir(parents=True, exist_ok=True)
        part = self.final.with_name(self.final.name + ".part")
        try:
            extract_member(archive, self.spec.archive_member, part)
        except WeightsError as exc:
            self._note(source, "unsafe" if isinstance(exc, UnsafeWeightsError) else "corrupt", str(exc))
            self._drop_archive(archive, keep)
            return False
        sha = self._verify(part, f"{source} -> {self.local_name}", "file")
        if sha is None:
            part.unlink(missing_ok=True)
            self._drop_archive(archive, keep)
            return False
        os.replace(part, self.final)
        if self.archive_hashes:
            _provenance_path(self.final).write_text(
                json.dumps({"archive": archive.name, "archive_hashes": self.archive_hashes, "sha256": sha})
            )
        if not keep and len(file_members(archive)) <= 1:
            self._drop_archive(archive, keep)
        return self._succeed(self.final, sha, origin, source, archive_verified=bool(self.archive_hashes))

    @staticmethod
    def _drop_archive(archive: Path, keep: bool) -> None:
        if not keep:
            archive.unlink(missing_ok=True)
            remove_empty_dirs(archive.parent, config.cache_dir())


def try_fetch(
    card: ModelCard,
    *,
    offline: bool = False,
    progress: bool = True,
    mirrors: Sequence[str | Path] = (),
    policy: DownloadPolicy | None = None,
) -> FetchOutcome:
    """Fetch a card's weights and say what happened at each place tried; never raises for a failed fetch."""
    if card.source in HUB_SOURCES:
        return _fetch_from_hub(card, offline=offline or config.offline())
    return _Fetcher(
        card,
        offline=offline or config.offline(),
        progress=progress,
        mirrors=[Path(m) for m in mirrors],
        policy=policy or DEFAULT_POLICY,
    ).run()


# Sources whose weights live on the Hugging Face Hub and are fetched with huggingface_hub into its cache.
HUB_SOURCES = ("timm", "hf-hub")


def _fetch_from_hub(card: ModelCard, *, offline: bool) -> FetchOutcome:
    from securitynet.zoo.hub_weights import fetch_hub_weights, hub_file_of

    outcome = FetchOutcome(card.id)
    source = hub_file_of(card).url if hub_file_of(card) else "card"
    try:
        fetched = fetch_hub_weights(card, offline=offline)
    except WeightsError as exc:
        kind = "checksum" if isinstance(exc, ChecksumError) else "missing"
        outcome.attempts.append(Attempt(source, kind, str(exc)))
        outcome.error = exc
        return outcome
    outcome.path, outcome.sha256, outcome.origin = fetched.path, fetched.sha256, fetched.origin
    outcome.verified_with = ["sha256"]
    outcome.pinned_card = fetched.pinned_card
    outcome.attempts.append(Attempt(fetched.file.url, "ok", str(fetched.path)))
    return outcome


def fetch_weights(
    card: ModelCard,
    *,
    offline: bool = False,
    progress: bool = True,
    mirrors: Sequence[str | Path] = (),
    policy: DownloadPolicy | None = None,
) -> Path:
    """A verified local file holding the card's state dict (the archive member for zip/tar formats).

    Raises ChecksumError (a hash mismatch), UnsafeWeightsError (an archive member escaping its
    folder) or WeightsError (nothing else worked), each listing every place tried and why it failed.
    """
    outcome = try_fetch(card, offline=offline, progress=progress, mirrors=mirrors, policy=policy)
    if outcome.error is not None or outcome.path is None:
        raise outcome.error or WeightsError(f"weights of {card.id} could not be fetched")
    return outcome.path
