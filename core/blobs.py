"""Claim-check blob store: media bytes lie here, a Kafka message carries only a `BlobRef`.

Blobs are content-addressed (`ab/cdef….png` by SHA-256), so a put is idempotent and a ref
names one content. Every read is capped and verified against the ref's size and digest before
a stage sees a byte: a ref is input from a submitter, and may lie.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Final, Protocol, TypeAlias
from urllib.parse import SplitResult, parse_qs, unquote_to_bytes, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from synthguard.errors import ConfigError, SynthguardError, ValidationError


class BlobReason(StrEnum):
    NOT_FOUND = "not_found"
    DIGEST_MISMATCH = "digest_mismatch"
    TOO_LARGE = "too_large"
    BAD_URI = "bad_uri"
    UNAVAILABLE = "unavailable"


class BlobError(SynthguardError):
    """A blob cannot be stored or read; `reason` says why, `retryable` whether a retry can help."""

    def __init__(self, reason: BlobReason, message: str, *, retryable: bool = False) -> None:
        super().__init__(message, retryable=retryable)
        self.reason = reason


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BlobRef:
    """Where a blob lies and what it must hash to: the Avro record `synthguard.BlobRef`."""

    uri: str
    sha256: str
    """Lower-case hex SHA-256 of the bytes."""
    size: int
    mime: str

    def __post_init__(self) -> None:
        checks = {
            "uri": isinstance(self.uri, str) and bool(self.uri),
            "sha256": isinstance(self.sha256, str) and bool(_SHA256_HEX.fullmatch(self.sha256)),
            "size": type(self.size) is int and self.size >= 0,
            "mime": isinstance(self.mime, str) and "/" in self.mime,
        }
        if bad := [name for name, ok in checks.items() if not ok]:
            raise ValidationError(f"blob ref {self!r}: invalid {', '.join(bad)}")

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BlobRef:
        try:
            return cls(record["uri"], record["sha256"], record["size"], record["mime"])
        except KeyError as exc:
            raise ValidationError(f"blob ref {dict(record)!r} lacks {exc}") from exc


RefLike: TypeAlias = BlobRef | Mapping[str, Any]


class BlobStore(Protocol):
    def put(self, data: bytes, *, mime: str, name: str | None = None) -> BlobRef:
        """Stores `data` under its digest; the same bytes and mime always give the same ref.

        `name` (the submitter's file name) only lends its extension when `mime` has none.
        """

    def get(self, ref: RefLike, *, max_bytes: int) -> bytes:
        """The bytes `ref` names, verified against its size and SHA-256.

        Reads at most `ref.size + 1 <= max_bytes + 1` bytes, so a lying ref costs no memory.
        """

    def put_file(self, path: Path, *, mime: str, name: str | None = None) -> BlobRef:
        """`put` for a file, streamed: audio and video can be larger than memory."""

    def open_file(self, ref: RefLike, *, max_bytes: int) -> AbstractContextManager[Path]:
        """A local file holding the verified bytes of `ref`, for decoders that want a path;
        a remote blob is streamed to a temporary file that is gone when the context ends."""

    def local_path(self, ref: RefLike) -> Path | None:
        """A file a user can open (not verified: use `get` for bytes), or None if there is none."""


# The pipeline's media types first: the stdlib's built-in table lacks webp, glb, flac. Host
# tables (/etc/mime.types) are left out so that a content address is the same on every host.
_EXTENSIONS = {
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "model/gltf-binary": ".glb",
    "model/gltf+json": ".gltf",
}
_BUILTIN_MIMETYPES = mimetypes.MimeTypes()
_SAFE_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


def _extension(mime: str, name: str | None) -> str:
    kind = mime.partition(";")[0].strip().lower()
    if ext := _EXTENSIONS.get(kind) or _BUILTIN_MIMETYPES.guess_extension(kind):
        return ext
    suffix = PurePath(name).suffix.lower() if name else ""
    return suffix if _SAFE_SUFFIX.fullmatch(suffix) else ""


def _blob_key(digest: str, mime: str, name: str | None) -> str:
    """`ab/cdef….ext`: two hex digits of fan-out keep folders (and S3 key prefixes) small."""
    return f"{digest[:2]}/{digest[2:]}{_extension(mime, name)}"


def _as_ref(ref: RefLike) -> BlobRef:
    return ref if isinstance(ref, BlobRef) else BlobRef.from_record(ref)


def _read_limit(ref: BlobRef, max_bytes: int) -> int:
    """One byte past the claimed size: a longer blob shows without being read whole."""
    if ref.size > max_bytes:
        raise BlobError(
            BlobReason.TOO_LARGE, f"{ref.uri} is {ref.size} bytes, over the {max_bytes}-byte cap"
        )
    return ref.size + 1


def _verified(ref: BlobRef, data: bytes) -> bytes:
    _verified_digest(ref, len(data), hashlib.sha256(data).hexdigest())
    return data


_CHUNK: Final = 1 << 20


def _verify_stream(ref: BlobRef, source: BinaryIO, sink: BinaryIO | None = None) -> None:
    """`_verified` for a stream read in chunks, copied to `sink` on the way when given."""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(min(_CHUNK, ref.size + 1 - size)):
        size += len(chunk)
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        if size > ref.size:
            break
    _verified_digest(ref, size, digest.hexdigest())


def _verified_digest(ref: BlobRef, size: int, hexdigest: str) -> None:
    if size != ref.size:
        raise BlobError(
            BlobReason.DIGEST_MISMATCH, f"{ref.uri} does not hold the {ref.size} bytes its ref says"
        )
    if hexdigest != ref.sha256:
        raise BlobError(BlobReason.DIGEST_MISMATCH, f"{ref.uri} does not hash to {ref.sha256}")


def _file_ref(path: Path, mime: str, name: str | None, uri_of: Callable[[str], str]) -> BlobRef:
    try:
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        size = path.stat().st_size
    except OSError as exc:
        raise BlobError(BlobReason.NOT_FOUND, f"cannot read {path}: {exc}") from exc
    return BlobRef(uri_of(_blob_key(digest, mime, name)), digest, size, mime)


def _file_uri_path(uri: str) -> Path | None:
    """The absolute path a `file://` URI names, or None if it is not a local file URI."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    if parts.query or parts.fragment:
        return None
    path = Path(os.fsdecode(unquote_to_bytes(parts.path)))
    return path if path.is_absolute() else None


class LocalBlobStore:
    """Blobs as files under `root` (`root/ab/cdef….png`), which users can open as they are."""

    def __init__(self, root: Path) -> None:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create blob folder {root}: {exc}") from exc
        self.root = root.resolve()

    def put(self, data: bytes, *, mime: str, name: str | None = None) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / _blob_key(digest, mime, name)
        ref = BlobRef(path.as_uri(), digest, len(data), mime)
        try:
            if not _holds(path, digest):  # also heals a blob damaged since it was written
                _write_atomic(path, data)
        except OSError as exc:
            retryable = not isinstance(exc, PermissionError)  # a full disk can clear
            raise BlobError(
                BlobReason.UNAVAILABLE, f"cannot write {path}: {exc}", retryable=retryable
            ) from exc
        return ref

    def put_file(self, path: Path, *, mime: str, name: str | None = None) -> BlobRef:
        ref = _file_ref(path, mime, name, lambda key: (self.root / key).as_uri())
        dest = self.root / _blob_key(ref.sha256, mime, name)
        try:
            if not _holds(dest, ref.sha256):
                dest.parent.mkdir(exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
                os.close(fd)
                try:
                    shutil.copyfile(path, tmp)
                    os.replace(tmp, dest)
                finally:
                    Path(tmp).unlink(missing_ok=True)
        except OSError as exc:
            raise BlobError(
                BlobReason.UNAVAILABLE, f"cannot write {dest}: {exc}", retryable=True
            ) from exc
        return ref

    @contextmanager
    def open_file(self, ref: RefLike, *, max_bytes: int) -> Iterator[Path]:
        ref = _as_ref(ref)
        _read_limit(ref, max_bytes)
        with self._reading(ref) as file:
            _verify_stream(ref, file)
        yield self._path(ref.uri)

    def get(self, ref: RefLike, *, max_bytes: int) -> bytes:
        ref = _as_ref(ref)
        limit = _read_limit(ref, max_bytes)
        with self._reading(ref) as file:
            data = file.read(limit)
        return _verified(ref, data)

    @contextmanager
    def _reading(self, ref: BlobRef) -> Iterator[BinaryIO]:
        path = self._path(ref.uri)
        try:
            with path.open("rb") as file:
                yield file
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobError(BlobReason.NOT_FOUND, f"no blob at {ref.uri}") from exc
        except OSError as exc:
            raise BlobError(
                BlobReason.UNAVAILABLE, f"cannot read {ref.uri}: {exc}", retryable=True
            ) from exc

    def owns(self, uri: str) -> bool:
        return self._resolve(uri) is not None

    def local_path(self, ref: RefLike) -> Path | None:
        path = self._path(_as_ref(ref).uri)
        return path if path.is_file() else None

    def _resolve(self, uri: str) -> Path | None:
        """The real path `uri` names once `..` and symlinks are followed, if it is under root."""
        path = _file_uri_path(uri)
        if path is None:
            return None
        try:
            real = path.resolve()
        except (OSError, RuntimeError, ValueError):  # symlink loop, NUL byte
            return None
        return real if real.is_relative_to(self.root) and real != self.root else None

    def _path(self, uri: str) -> Path:
        if (path := self._resolve(uri)) is None:
            raise BlobError(BlobReason.BAD_URI, f"{uri} is not a blob under {self.root}")
        return path


def _holds(path: Path, digest: str) -> bool:
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest() == digest
    except FileNotFoundError:
        return False


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file beside the blob, then rename: readers see the whole blob or none."""
    path.parent.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone after a rename; left only by a failure


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_ADDRESSING = (None, "path", "virtual")
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket"}
# Throttling and timeouts (S3 answers some with 400), and an upload damaged on the way.
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "TooManyRequests",
    "BadDigest",
    "XAmzContentChecksumMismatch",
}


class S3BlobStore:
    """Blobs as objects `s3://bucket/prefix/ab/cdef….png` on S3 or an S3-compatible store.

    `endpoint_url` reaches MinIO, Ceph, Tencent COS or Alibaba OSS. botocore uses path style
    for a custom endpoint; OSS requires, and COS prefers, `addressing="virtual"`.
    Credentials come from boto3's usual chain (AWS_* variables, profile, instance role).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing: str | None = None,
        client: Any = None,
    ) -> None:
        if not _BUCKET.fullmatch(bucket):
            raise ConfigError(f"bad S3 bucket name {bucket!r}")
        if endpoint_url is not None and not _is_http_url(endpoint_url):
            raise ConfigError(f"S3 endpoint must be an http(s) URL, got {endpoint_url!r}")
        if addressing not in _ADDRESSING:
            raise ConfigError(f"S3 addressing must be path or virtual, got {addressing!r}")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client if client is not None else _s3_client(endpoint_url, region, addressing)

    def put(self, data: bytes, *, mime: str, name: str | None = None) -> BlobRef:
        digest = hashlib.sha256(data)
        key = self.prefix + _blob_key(digest.hexdigest(), mime, name)
        ref = BlobRef(f"s3://{self.bucket}/{key}", digest.hexdigest(), len(data), mime)
        with _s3_errors(ref.uri):
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=mime,
                # a plain header (no aws-chunked trailer): S3 refuses bytes that do not match
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                Metadata={"sha256": digest.hexdigest()},
            )
        return ref

    def put_file(self, path: Path, *, mime: str, name: str | None = None) -> BlobRef:
        ref = _file_ref(path, mime, name, lambda key: f"s3://{self.bucket}/{self.prefix}{key}")
        key = ref.uri[len(f"s3://{self.bucket}/") :]
        with _s3_errors(ref.uri):
            # boto3's managed transfer: multipart above 8 MiB, so hours of video stream through
            self.client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": mime, "Metadata": {"sha256": ref.sha256}},
            )
        return ref

    @contextmanager
    def open_file(self, ref: RefLike, *, max_bytes: int) -> Iterator[Path]:
        ref = _as_ref(ref)
        limit = _read_limit(ref, max_bytes)
        if (key := self._key(ref.uri)) is None:
            raise BlobError(BlobReason.BAD_URI, f"{ref.uri} is not under s3://{self.bucket}/")
        with tempfile.TemporaryDirectory(prefix="synthguard-blob-") as tmp:
            path = Path(tmp) / PurePath(key).name
            with _s3_errors(ref.uri):
                response = self.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit - 1}"
                )
                with response["Body"] as body, path.open("wb") as file:
                    _verify_stream(ref, body, file)
            yield path

    def get(self, ref: RefLike, *, max_bytes: int) -> bytes:
        ref = _as_ref(ref)
        limit = _read_limit(ref, max_bytes)
        if (key := self._key(ref.uri)) is None:
            raise BlobError(BlobReason.BAD_URI, f"{ref.uri} is not under s3://{self.bucket}/")
        with _s3_errors(ref.uri):
            data = self._read(key, limit)
        return _verified(ref, data)

    def owns(self, uri: str) -> bool:
        return self._key(uri) is not None

    def local_path(self, ref: RefLike) -> Path | None:
        return None

    def _key(self, uri: str) -> str | None:
        """The key `uri` names under the prefix; dot segments are refused, as some stores
        normalise them and a ref could then step out of the prefix."""
        bucket = f"s3://{self.bucket}/"
        if not uri.startswith(bucket + self.prefix):
            return None
        if any(part in ("", ".", "..") for part in uri[len(bucket + self.prefix) :].split("/")):
            return None
        return uri[len(bucket) :]

    def _read(self, key: str, limit: int) -> bytes:
        # Range bounds what the server sends; read(limit) bounds a server that ignores Range.
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit - 1}"
            )
        except ClientError as exc:
            if _error_code(exc) == "InvalidRange":  # a range from byte 0 fails only when empty
                return b""
            raise
        body = response["Body"]
        try:
            data: bytes = body.read(limit)
        finally:
            body.close()
        return data


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _s3_client(endpoint_url: str | None, region: str | None, addressing: str | None) -> Any:
    config = Config(
        # botocore >= 1.36 adds CRC32 trailers (aws-chunked uploads) that many S3-compatible
        # stores reject; put sends its own SHA-256 header and get verifies the digest itself.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard"},
        s3={"addressing_style": addressing} if addressing else None,
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _s3_errors(uri: str) -> Iterator[None]:
    """botocore's errors as BlobErrors; botocore has already retried the transient ones."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if code in _NOT_FOUND_CODES:
            raise BlobError(BlobReason.NOT_FOUND, f"no blob at {uri} ({code})") from exc
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        transient = code in _TRANSIENT_CODES or status == 429 or status >= 500
        raise BlobError(BlobReason.UNAVAILABLE, f"{uri}: {exc}", retryable=transient) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise BlobError(BlobReason.UNAVAILABLE, f"{uri}: {exc}", retryable=True) from exc
    except BotoCoreError as exc:  # no credentials, bad configuration
        raise BlobError(BlobReason.UNAVAILABLE, f"{uri}: {exc}") from exc


_S3_OPTIONS = {"endpoint", "region", "addressing"}
_SPEC_FORMS = "a path, file:///path or s3://bucket/prefix?endpoint=URL&region=R&addressing=A"


def open_store(spec: str) -> BlobStore:
    """A store from its spec: a plain path or `file:///path` (local), or
    `s3://bucket[/prefix][?endpoint=http://host:9000&region=R&addressing=path|virtual]`."""
    spec = spec.strip()
    if not spec:
        raise ConfigError(f"blob store spec is empty; use {_SPEC_FORMS}")
    parts = urlsplit(spec)
    if not parts.scheme:
        return LocalBlobStore(Path(spec))
    if parts.scheme == "s3":
        return _open_s3(parts)
    if parts.scheme == "file":
        if (path := _file_uri_path(spec)) is None:
            raise ConfigError(f"blob store {spec!r}: a file URI is file:///absolute/path")
        return LocalBlobStore(path)
    raise ConfigError(f"blob store {spec!r}: use {_SPEC_FORMS}")


def _open_s3(parts: SplitResult) -> S3BlobStore:
    if "@" in parts.netloc:  # the message leaves the spec out: it would show the secret
        raise ConfigError(
            "an s3:// blob store spec holds no credentials; boto3 reads them from "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role"
        )
    try:
        options = parse_qs(parts.query, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ConfigError(f"blob store s3://{parts.netloc}: {exc}") from exc
    if unknown := sorted(set(options) - _S3_OPTIONS):
        raise ConfigError(f"blob store s3://{parts.netloc}: unknown options {', '.join(unknown)}")
    if repeated := sorted(name for name, values in options.items() if len(values) > 1):
        raise ConfigError(f"blob store s3://{parts.netloc}: repeated {', '.join(repeated)}")
    return S3BlobStore(
        parts.netloc,
        prefix=parts.path,
        endpoint_url=options.get("endpoint", [None])[0],
        region=options.get("region", [None])[0],
        addressing=options.get("addressing", [None])[0],
    )
