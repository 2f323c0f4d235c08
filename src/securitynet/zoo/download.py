"""HTTP download of one URL into a `.part` file: streaming, timeouts, retries with backoff, resume by Range.

The caller owns verification and the final rename; this module only guarantees that when `download`
returns, the `.part` file holds every byte the server announced. A transient failure (connection
dropped, timeout, HTTP 5xx/408/429) is retried with exponential backoff and resumes from the bytes
already on disk; a permanent one (HTTP 4xx, a server that cannot resume consistently) raises
`DownloadFailed` at once. After a failed download the `.part` stays, so a later call resumes it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3

from securitynet.errors import WeightsError
from securitynet.progress import ProgressDisplay

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class DownloadPolicy:
    """How hard to try. The defaults suit GitHub/Zenodo release files of up to a few GB."""

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    connect_timeout_s: float = 15.0
    read_timeout_s: float = 60.0
    chunk_size: int = 1 << 20


DEFAULT_POLICY = DownloadPolicy()


class DownloadFailed(WeightsError):
    """A URL could not be downloaded; `reason` is a short cause (e.g. 'HTTP 404 Not Found')."""

    def __init__(self, url: str, reason: str, *, kind: str = "network") -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.kind = kind  # "http" (the server said no) or "network" (gave up after retries)


class _Transient(Exception):
    """A failure worth retrying; `wait_s` is the server's Retry-After when it sent one."""

    def __init__(self, reason: str, wait_s: float | None = None, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.wait_s = wait_s
        self.unreachable = unreachable  # no connection at all (as opposed to a failure mid-transfer)


# Hosts that could not be reached at all after every retry, with the time: later URLs on the same host
# fail at once for a while instead of repeating the whole backoff (e.g. a machine without internet).
UNREACHABLE_TTL_S = 300.0
_unreachable_hosts: dict[str, float] = {}


def forget_unreachable_hosts() -> None:
    _unreachable_hosts.clear()


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".meta")


def discard_partial(part: Path) -> None:
    """Remove a `.part` file and its resume metadata."""
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def _read_meta(part: Path) -> dict[str, Any]:
    try:
        return json.loads(_meta_path(part).read_text())
    except (OSError, ValueError):
        return {}


def _user_agent() -> str:
    from securitynet.version import __version__

    return f"securitynet/{__version__} (+https://github.com/TrustAIRLab/SecurityNet)"


def download(
    url: str,
    part: Path,
    *,
    policy: DownloadPolicy = DEFAULT_POLICY,
    progress: bool = True,
    label: str | None = None,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Download `url` into `part` (resuming what is there). Returns the final size in bytes."""
    host = urlsplit(url).netloc
    since = _unreachable_hosts.get(host)
    if since is not None and time.monotonic() - since < UNREACHABLE_TTL_S:
        raise DownloadFailed(url, f"host {host} was unreachable {time.monotonic() - since:.0f} s ago; not retried")
    part.parent.mkdir(parents=True, exist_ok=True)
    own_session = session is None
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = _user_agent()
    failures: list[_Transient] = []
    try:
        name = label or part.name.removesuffix(".part")
        with _progress_bar(progress, name) as bar:
            clock = time.perf_counter()
            for attempt in range(policy.retries + 1):
                try:
                    size = _download_once(session, url, part, policy, bar)
                    bar.finished(name, detail=f"{size / 1e6:.1f} MB", seconds=time.perf_counter() - clock, advance=0)
                    return size
                except _Transient as exc:
                    failures.append(exc)
                    if attempt == policy.retries:
                        break
                    wait = min(policy.backoff_s * 2**attempt, policy.max_backoff_s)
                    if exc.wait_s is not None:
                        wait = min(max(wait, exc.wait_s), policy.max_backoff_s)
                    sleep(wait)
    finally:
        if own_session:
            session.close()
    if all(f.unreachable for f in failures):
        _unreachable_hosts[host] = time.monotonic()
    tries = len(failures)
    raise DownloadFailed(url, f"{failures[-1]} (gave up after {tries} attempt{'s' * (tries != 1)})", kind="network")


def _download_once(session: requests.Session, url: str, part: Path, policy: DownloadPolicy,
                   bar: ProgressDisplay) -> int:
    meta = _read_meta(part)
    if part.exists() and meta.get("url") != url:
        discard_partial(part)  # bytes from another URL may be another version of the file
    have = part.stat().st_size if part.exists() else 0
    # identity: byte offsets of a Range request must refer to the file, not to a compressed stream.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        etag = meta.get("etag")
        # If-Range needs a strong validator; a server ignores a weak ETag and would resend the whole file.
        validator = etag if etag and not etag.startswith("W/") else meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator  # the server sends the whole file if it changed meanwhile
    try:
        response = session.get(
            url, headers=headers, stream=True, timeout=(policy.connect_timeout_s, policy.read_timeout_s)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Transient(f"cannot connect: {_connection_reason(exc)}", unreachable=True) from None
    except requests.RequestException as exc:
        raise DownloadFailed(url, f"request failed ({_short(exc)})", kind="http") from None

    with response:
        status = response.status_code
        if status == 416 and have:
            match = _UNSATISFIED_RANGE.search(response.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == have:
                return have  # the partial file is already complete
            discard_partial(part)
            raise _Transient("server refused to resume the partial file; starting over")
        if status in (408, 429) or status >= 500:
            raise _Transient(f"HTTP {status} {response.reason}", _retry_after(response))
        if status >= 400:
            raise DownloadFailed(url, f"HTTP {status} {response.reason}", kind="http")
        if status not in (200, 206):
            raise DownloadFailed(url, f"unexpected HTTP {status} {response.reason}", kind="http")

        expected_total: int | None
        if status == 206:
            match = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != have:
                # A 206 that does not continue where we stopped cannot be appended: start over.
                discard_partial(part)
                raise _Transient("server answered the resume request with a different byte range; starting over")
            expected_total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:
            # 200: the server ignored Range (or the file changed): the body is the whole file.
            have = 0
            length = response.headers.get("Content-Length")
            expected_total = int(length) if length and length.isdigit() else None
            mode = "wb"
        _meta_path(part).write_text(
            json.dumps(
                {
                    "url": url,
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                }
            )
        )
        bar.update_row(bar.main, total=expected_total, completed=have)
        try:
            with open(part, mode) as handle:
                for chunk in _body_chunks(response, policy.chunk_size):
                    handle.write(chunk)
                    bar.advance(len(chunk))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _Transient(f"connection lost after {part.stat().st_size} bytes ({_short(exc)})") from None
    size = part.stat().st_size
    if expected_total is not None and size != expected_total:
        if size > expected_total:
            discard_partial(part)
        raise _Transient(f"connection closed after {size} of {expected_total} bytes")
    return size


def _body_chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The body as it arrives. read1 hands over every byte received before a connection drops, so the
    `.part` keeps them for the resume (a plain read(chunk_size) would discard an incomplete chunk)."""
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    if encoding not in ("", "identity"):
        # The server compressed despite "identity": let requests decode it (such a body cannot be resumed
        # byte-exactly, but a complete transfer is still verified by its hash).
        yield from response.iter_content(chunk_size=chunk_size)
        return
    while chunk := response.raw.read1(chunk_size):
        yield chunk


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


def _connection_reason(exc: BaseException) -> str:
    """The root cause of a requests connection error, without urllib3's object reprs."""
    cause: object = exc
    inner = exc.args[0] if exc.args else None
    if getattr(inner, "reason", None) is not None:
        cause = inner.reason  # type: ignore[union-attr]
    text = re.sub(r"<[^>]*>:?\s*", "", str(cause)).strip()
    if isinstance(exc, requests.Timeout) and "timed out" not in text:
        text = f"timed out ({text})"
    return _short(text) if text else type(exc).__name__


def _short(exc: BaseException | str) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _progress_bar(enabled: bool, name: str) -> ProgressDisplay:
    """Bytes, speed and time left on a terminal (on standard error); a line per finished download elsewhere."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("[bold blue]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    return ProgressDisplay(None, name, console=Console(stderr=True), enabled=enabled, transient=True, columns=columns)
