"""Own object storage access through `pyarrow.fs`: a local directory or any S3-compatible endpoint.

Only footers are read: one ranged read of the file's tail (64 KiB, which holds the footer of almost
every file) and, for a larger footer, one more ranged read of exactly its bytes. Every failure is
turned into a `StorageIssue` with an `IssueKind`, so callers classify it and carry on.
Credentials for S3 come from the standard AWS environment variables, never from settings or logs.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from python_ops.errors import ConfigError, PreconditionError
from python_ops.parquet_repair.models import IssueKind
from python_ops.settings import MigrataSettings

TAIL_BYTES = 64 * 1024
MAGIC = b"PAR1"


class StorageIssue(Exception):
    """A file's footer could not be read; `kind` says why."""

    def __init__(self, kind: IssueKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class ReadStats:
    """What reading cost: files opened, ranged reads issued, bytes read."""

    files: int = 0
    requests: int = 0
    bytes: int = 0


def _kind_of(exc: BaseException) -> IssueKind:
    text = str(exc)
    if isinstance(exc, FileNotFoundError) or "does not exist" in text or "NoSuchKey" in text:
        return IssueKind.FILE_MISSING
    if isinstance(exc, (PermissionError, IsADirectoryError)) or "is a directory" in text:
        return IssueKind.FILE_UNREADABLE
    if "ACCESS_DENIED" in text or "AccessDenied" in text or "Permission denied" in text:
        return IssueKind.FILE_UNREADABLE
    if "NETWORK_CONNECTION" in text or "curlCode" in text or "timed out" in text.lower():
        return IssueKind.STORAGE_ERROR
    return IssueKind.FILE_UNREADABLE


class Storage:
    """Files under one root of one `pyarrow.fs` filesystem; paths are relative to the root."""

    def __init__(self, fs: pafs.FileSystem, root: str, url: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url  # for messages: never carries credentials
        self.stats = ReadStats()
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint: str | None = None,
        region: str = "us-east-1",
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        allow_bucket_creation: bool = False,
    ) -> Storage:
        """Open `url`: a local directory (plain path or file://) or s3://bucket/prefix."""
        parsed = urlparse(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise ConfigError(f"storage URL {url!r} names no bucket", hint="use s3://bucket/prefix")
            options: dict[str, object] = {
                "region": region,
                "connect_timeout": timeout_s,
                "request_timeout": timeout_s,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=max_attempts),
                "allow_bucket_creation": allow_bucket_creation,
            }
            if endpoint:
                ep = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
                options["endpoint_override"] = ep.netloc
                options["scheme"] = ep.scheme
            fs = pafs.S3FileSystem(**options)  # type: ignore[arg-type]
            return cls(fs, f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/"), url)
        if parsed.scheme not in ("", "file"):
            raise ConfigError(
                f"storage URL {url!r} has an unsupported scheme {parsed.scheme!r}",
                hint="use a local directory or s3://bucket/prefix (with MIGRATA_PARQUET__S3_ENDPOINT)",
            )
        root = Path(parsed.path if parsed.scheme == "file" else url).expanduser().absolute()
        return cls(pafs.LocalFileSystem(), str(root), str(root))

    @classmethod
    def from_settings(cls, settings: MigrataSettings) -> Storage:
        p = settings.parquet
        url = p.storage_url or str(settings.home / "objects")
        return cls.from_url(
            url,
            endpoint=p.s3_endpoint,
            region=p.s3_region,
            timeout_s=p.s3_timeout_s,
            max_attempts=p.s3_max_attempts,
        )

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def full(self, path: str) -> str:
        return f"{self.root}/{path.lstrip('/')}"

    def _count(self, requests: int, nbytes: int) -> None:
        with self._lock:
            self.stats.files += 1
            self.stats.requests += requests
            self.stats.bytes += nbytes

    def read_footer(self, path: str) -> bytes:
        """Read only the footer of the parquet file at `path` by ranged reads of its tail."""
        try:
            handle = self.fs.open_input_file(self.full(path))
        except OSError as exc:
            raise StorageIssue(_kind_of(exc), _first_line(exc)) from None
        try:
            size = handle.size()
            if size < 12:
                raise StorageIssue(IssueKind.NOT_PARQUET, f"file of {size} bytes is too small for parquet")
            want = min(size, TAIL_BYTES)
            tail = handle.read_at(want, size - want)
            requests, nbytes = 1, len(tail)
            if tail[-4:] != MAGIC:
                hint = "encrypted footer (PARE)" if tail[-4:] == b"PARE" else "no PAR1 magic at the end"
                raise StorageIssue(IssueKind.NOT_PARQUET, hint)
            length = struct.unpack("<I", tail[-8:-4])[0]
            if length + 12 > size:
                raise StorageIssue(IssueKind.FILE_CORRUPT, f"footer length {length} exceeds file size {size}")
            if length + 8 <= len(tail):
                footer = tail[-8 - length : -8]
            else:
                footer = handle.read_at(length, size - 8 - length)
                requests, nbytes = 2, nbytes + len(footer)
            self._count(requests, nbytes)
            return bytes(footer)
        except OSError as exc:
            raise StorageIssue(_kind_of(exc), _first_line(exc)) from None
        finally:
            handle.close()

    def check_root(self) -> None:
        """Raise `StorageIssue` unless the root is a reachable directory (or S3 prefix holding objects).

        A missing root is not "every file is missing": it is a wrong setting or an unmounted volume."""
        try:
            info = self.fs.get_file_info(self.root)
        except OSError as exc:
            raise StorageIssue(_kind_of(exc), f"{self.url}: {_first_line(exc)}") from None
        if info.type == pafs.FileType.NotFound:
            raise StorageIssue(IssueKind.FILE_MISSING, f"root {self.url} does not exist")
        if info.type != pafs.FileType.Directory:
            raise StorageIssue(IssueKind.FILE_UNREADABLE, f"root {self.url} is not a directory")

    def require_reachable(self) -> None:
        """The precondition of every verb that reads files: the root is reachable (else exit 2)."""
        try:
            self.check_root()
        except StorageIssue as exc:
            raise PreconditionError(
                f"parquet storage is not reachable: {exc.detail}",
                hint="set MIGRATA_PARQUET__STORAGE_URL to the root holding the files (and "
                "MIGRATA_PARQUET__S3_ENDPOINT for S3), or mount it; nothing was changed",
            ) from None

    def list_files(self) -> dict[str, int]:
        """Every path under the root with its size (one listing; raises StorageIssue when unreachable).

        Something other than a file at a path (a directory) is listed too: the path exists, reading it
        fails, and the repair reports it as unreadable rather than missing."""
        self.check_root()
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True, allow_not_found=True))
        except OSError as exc:
            raise StorageIssue(_kind_of(exc), _first_line(exc)) from None
        prefix = len(self.root) + 1
        return {i.path[prefix:]: i.size or 0 for i in infos if i.type != pafs.FileType.NotFound}

    def write(self, path: str, data: bytes) -> None:
        """Write one object (used by the test-data generator and the demo)."""
        full = self.full(path)
        parent = full.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        with self.fs.open_output_stream(full) as out:
            out.write(data)

    def delete(self, path: str) -> None:
        self.fs.delete_file(self.full(path))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
