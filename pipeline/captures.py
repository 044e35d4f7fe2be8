"""Where captures live, and how one is named: the home's captures folder, or ``CHANCERY_CAPTURES_URL``.

Fetch always writes a run's WARC to a local file under ``CHANCERY_HOME/captures`` (streamed, one
gzip member per record). When the capture is closed it is *published* to the captures store,
``settings.captures_url``:

- unset (the default, and the demo's): the local file *is* the capture; nothing is copied;
- ``file:///shared/path``: a mounted share; the WARC is copied there under a temporary name and
  renamed, so a reader never sees half a file;
- ``s3://bucket/prefix`` (or another object store whose fsspec package is installed): one upload
  (s3fs: one PUT, multipart past its block size), its size checked against the local file. The
  bucket must exist: publishing never creates one. Credentials and the endpoint come from the
  store library's standard environment and files (botocore: ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...),
  never from Chancery's settings, and are never logged.

Once published and checked, the local copy of a stored capture is removed: a local copy that is
still there is one that was not (or not wholly) published, which is how a drain on the host that
wrote it knows to upload it before processing (``CaptureStore.readable``).

The capture's *URI* names it everywhere (capture ledger, seen-store, out-of-scope store, an
article's provenance): the captures URL plus the file's path under the captures folder, or, with
no captures URL, the WARC's resolved local path, exactly as captures were always named.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.logs import get_logger, log_event
from pipeline.urls import is_object_store, local_path, mask_urls, masked

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.models import RawPage
    from pipeline.outcomes import StageResult

log = get_logger("captures")


class CaptureUploadFailed(RuntimeError):
    """A closed capture could not be published to the captures store; its WARC is kept on this host.

    The capture stays in the ledger (held by its writer, then claimable by a drain on this host),
    and the next drain here uploads it before processing it: nothing fetched is lost.
    """

    fetch_report: dict[str, Any] | None = None  # the run's fetch report, when the fetch that wrote it raised this

    def __init__(self, uri: str, local: str, reason: str) -> None:
        super().__init__(f"upload of capture {masked(uri)} failed ({reason}); kept at {local}")
        self.uri, self.local, self.reason = uri, local, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.uri, self.local, self.reason))


class CaptureStoreUnavailable(RuntimeError):
    """The captures store could not be reached, or refused, while a capture was looked up or read."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"captures store unreachable for {masked(uri)}: {reason}")
        self.uri, self.reason = uri, reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.uri, self.reason))


def capture_key(location: Path | str) -> str:
    """A capture's name in the ledger and the seen-store: a URL (``s3://``, ``file://``) as given, a path resolved."""
    if isinstance(location, str) and "://" in location:
        return location
    return str(Path(location).resolve())


@dataclass(frozen=True)
class CaptureStore:
    """The captures store of one home: ``url`` (``settings.captures_url``), or the local ``root`` alone."""

    root: Path  # settings.captures_dir: where fetch writes every WARC first
    url: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> CaptureStore:
        return cls(settings.captures_dir, settings.captures_url.rstrip("/") if settings.captures_url else None)

    @property
    def remote(self) -> bool:
        return self.url is not None

    def uri(self, local: Path) -> str:
        """The URI of the capture whose WARC is written at ``local``.

        Under a captures URL it is the file's path below the captures folder; a WARC written elsewhere
        (``chancery fetch --out DIR``) is published under its file name.
        """
        if self.url is None:
            return capture_key(local)
        resolved, root = local.resolve(), self.root.resolve()
        relative = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.name
        return f"{self.url}/{relative}"

    def staged(self, uri: str) -> Path | None:
        """This host's local copy of a stored capture not (wholly) published yet; None when there is none."""
        if self.url is None or not uri.startswith(self.url + "/"):
            return None
        local = self.root / uri[len(self.url) + 1 :]
        return local if local.is_file() else None

    def publish(self, local: Path, uri: str) -> None:
        """Copy the closed WARC at ``local`` to ``uri``, check its size there, then drop the local copy.

        Nothing to do without a captures URL. Raises ``CaptureUploadFailed`` when the store cannot
        be reached or refuses; the local file is then kept.
        """
        if self.url is None:
            return
        size = local.stat().st_size
        errors = _storage_errors()
        try:
            stored = _copy_local(local, uri) if not is_object_store(uri) else _upload(local, uri)
        except errors as exc:
            raise CaptureUploadFailed(uri, str(local), _reason(exc)) from exc
        if stored != size:
            raise CaptureUploadFailed(uri, str(local), f"the store holds {stored} of its {size} bytes")
        local.unlink()
        log_event(log, "capture_published", uri=masked(uri), bytes=size)

    def readable(self, uri: str) -> bool:
        """Whether the capture can be read at ``uri``, after publishing this host's staged copy if it has one.

        Raises ``CaptureUploadFailed`` when that upload fails, ``CaptureStoreUnavailable`` when the
        store cannot say whether the capture is there.
        """
        staged = self.staged(uri)
        if staged is not None:  # written here and not (wholly) published: its writer stopped, or the upload failed
            self.publish(staged, uri)
            return True
        if not is_object_store(uri):
            return local_path(uri).is_file()
        import fsspec  # only for object stores

        try:
            fs, path = fsspec.core.url_to_fs(uri)
            return bool(fs.isfile(path))
        except _storage_errors() as exc:
            raise CaptureStoreUnavailable(uri, _reason(exc)) from exc

    def read(self, uri: str, max_payload: int) -> Iterator[RawPage | StageResult]:
        """The capture's pages, through the one WARC reader (an object store is read by ranges).

        Raises ``CaptureStoreUnavailable`` when the store fails under the reader in a way the reader does
        not count as damage (botocore's connection errors are no OSError).
        """
        from pipeline.warc import iter_responses

        errors = _storage_errors()
        try:
            yield from iter_responses(uri, max_payload)
        except errors as exc:
            raise CaptureStoreUnavailable(uri, _reason(exc)) from exc


def _upload(local: Path, uri: str) -> int:
    import fsspec  # only for object stores

    fs, path = fsspec.core.url_to_fs(uri)
    fs.put_file(str(local), path)  # never makes a bucket: a missing one is a failed upload
    return int(fs.size(path))


def _copy_local(local: Path, uri: str) -> int:
    target = local_path(uri)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(local, partial)
    os.replace(partial, target)  # whole or not at all, for a reader on another host
    return target.stat().st_size


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What a store raises when it cannot be reached or refuses: OSError (fsspec's mapping of refusals,
    missing buckets and keys) and botocore's own errors, which s3fs lets through for a connection
    that failed after its retries."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 support installed: only OSError can come
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


def _reason(exc: BaseException) -> str:
    return mask_urls(f"{type(exc).__name__}: {exc}")[:500]
