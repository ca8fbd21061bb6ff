"""The claim-check blob store: real files, and S3 through moto's in-process fake of the API."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import fastavro
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws
from PIL import Image
from skimage import data as photos

from synthguard.blobs import (
    BlobError,
    BlobReason,
    BlobRef,
    LocalBlobStore,
    S3BlobStore,
    open_store,
)
from synthguard.errors import ConfigError, ValidationError
from synthguard.schemas import schema_dir

MiB = 1 << 20


@pytest.fixture(scope="module")
def photo() -> bytes:
    buf = io.BytesIO()
    astronaut: Any = photos.astronaut()  # type: ignore[no-untyped-call]
    Image.fromarray(astronaut).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def s3() -> Iterator[Any]:
    """A client of moto's fake S3 with a `media` bucket; the store makes its own client."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="media")
        yield client


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def reason(exc: pytest.ExceptionInfo[BlobError]) -> BlobReason:
    return exc.value.reason


def avro_blob_ref_schema() -> Any:
    envelope = json.loads((schema_dir() / "artifact_envelope.v1.avsc").read_text("utf-8"))
    blob = next(f for f in envelope["fields"] if f["name"] == "blob")
    return next(t for t in blob["type"] if isinstance(t, dict))


# --- BlobRef -------------------------------------------------------------------------------


def test_ref_record_matches_the_avro_blob_ref(local: LocalBlobStore, photo: bytes) -> None:
    ref = local.put(photo, mime="image/png")
    record = ref.to_record()
    assert fastavro.validation.validate(record, avro_blob_ref_schema(), raise_errors=True)
    assert BlobRef.from_record(record) == ref


@pytest.mark.parametrize(
    "record",
    [
        {"uri": "file:///x", "sha256": "ab" * 32, "size": 1},
        {"uri": "file:///x", "sha256": "AB" * 32, "size": 1, "mime": "image/png"},
        {"uri": "file:///x", "sha256": "ab" * 31, "size": 1, "mime": "image/png"},
        {"uri": "file:///x", "sha256": "ab" * 32, "size": -1, "mime": "image/png"},
        {"uri": "file:///x", "sha256": "ab" * 32, "size": True, "mime": "image/png"},
        {"uri": "", "sha256": "ab" * 32, "size": 1, "mime": "image/png"},
        {"uri": "file:///x", "sha256": "ab" * 32, "size": 1, "mime": "png"},
    ],
)
def test_malformed_ref_is_a_validation_error(record: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BlobRef.from_record(record)


def test_blob_error_survives_pickling() -> None:
    """Media work runs in worker processes; its errors come back pickled."""
    error = pickle.loads(pickle.dumps(BlobError(BlobReason.UNAVAILABLE, "s3 down", retryable=True)))
    assert (error.reason, error.retryable, str(error)) == (BlobReason.UNAVAILABLE, True, "s3 down")


# --- local store ---------------------------------------------------------------------------


def test_local_round_trip_of_a_photo(local: LocalBlobStore, photo: bytes) -> None:
    ref = local.put(photo, mime="image/png")
    digest = hashlib.sha256(photo).hexdigest()
    assert (ref.sha256, ref.size, ref.mime) == (digest, len(photo), "image/png")
    path = local.root / digest[:2] / f"{digest[2:]}.png"
    assert ref.uri == path.as_uri()
    assert local.local_path(ref) == path
    with Image.open(path) as image:
        assert image.size == (512, 512)
    assert local.get(ref, max_bytes=len(photo)) == photo
    assert local.get(ref.to_record(), max_bytes=len(photo)) == photo


def test_extension_comes_from_mime_then_from_name(local: LocalBlobStore) -> None:
    assert local.put(b"RIFF", mime="image/webp").uri.endswith(".webp")
    assert local.put(b"glTF", mime="application/x-unknown", name="Scene.GLB").uri.endswith(".glb")
    odd = local.put(b"??", mime="application/x-unknown", name="x.png/../evil name")
    assert odd.uri.endswith(f"/{odd.sha256[2:]}")


def test_put_is_idempotent(local: LocalBlobStore, photo: bytes) -> None:
    first = local.put(photo, mime="image/png")
    path = local.local_path(first)
    assert path is not None
    mtime = path.stat().st_mtime_ns
    assert local.put(photo, mime="image/png") == first
    assert files_under(local.root) == [path]
    assert path.stat().st_mtime_ns == mtime  # not rewritten


def test_put_heals_a_damaged_blob(local: LocalBlobStore, photo: bytes) -> None:
    ref = local.put(photo, mime="image/png")
    path = local.local_path(ref)
    assert path is not None
    path.write_bytes(b"\0" * len(photo))
    assert local.put(photo, mime="image/png") == ref
    assert local.get(ref, max_bytes=len(photo)) == photo


def test_failed_write_leaves_neither_blob_nor_temp_file(
    local: LocalBlobStore, photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(BlobError) as exc:
        local.put(photo, mime="image/png")
    assert reason(exc) is BlobReason.UNAVAILABLE and exc.value.retryable
    assert files_under(local.root) == []


def test_tampered_file_is_a_digest_mismatch(local: LocalBlobStore, photo: bytes) -> None:
    ref = local.put(photo, mime="image/png")
    path = local.local_path(ref)
    assert path is not None
    tampered = bytearray(photo)
    tampered[1000] ^= 0xFF
    path.write_bytes(bytes(tampered))
    with pytest.raises(BlobError) as exc:
        local.get(ref, max_bytes=len(photo))
    assert reason(exc) is BlobReason.DIGEST_MISMATCH and not exc.value.retryable


def test_ref_over_the_cap_is_too_large_before_any_read(local: LocalBlobStore) -> None:
    ref = BlobRef((local.root / "ab" / "missing").as_uri(), "ab" * 32, 101, "image/png")
    with pytest.raises(BlobError) as exc:
        local.get(ref, max_bytes=100)
    assert reason(exc) is BlobReason.TOO_LARGE


def test_ref_lying_about_size_costs_no_memory(local: LocalBlobStore, photo: bytes) -> None:
    """A 64 MiB blob behind a ref claiming 10 bytes: found out after reading 11."""
    ref = local.put(photo, mime="image/png")
    path = local.local_path(ref)
    assert path is not None
    os.truncate(path, 64 * MiB)  # sparse: no disk is used
    lie = BlobRef(ref.uri, ref.sha256, 10, ref.mime)
    tracemalloc.start()
    try:
        with pytest.raises(BlobError) as exc:
            local.get(lie, max_bytes=MiB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason(exc) is BlobReason.DIGEST_MISMATCH
    assert peak < MiB


def test_short_blob_is_a_digest_mismatch(local: LocalBlobStore, photo: bytes) -> None:
    ref = local.put(photo, mime="image/png")
    path = local.local_path(ref)
    assert path is not None
    os.truncate(path, 100)
    with pytest.raises(BlobError) as exc:
        local.get(ref, max_bytes=len(photo))
    assert reason(exc) is BlobReason.DIGEST_MISMATCH


def test_ref_claiming_more_bytes_than_the_blob_holds_is_refused(
    local: LocalBlobStore, photo: bytes
) -> None:
    ref = local.put(photo, mime="image/png")
    inflated = BlobRef(ref.uri, ref.sha256, ref.size + 5, ref.mime)  # right digest, wrong size
    with pytest.raises(BlobError) as exc:
        local.get(inflated, max_bytes=2 * len(photo))
    assert reason(exc) is BlobReason.DIGEST_MISMATCH


@pytest.mark.parametrize("how", ["dotdot", "encoded-dotdot", "symlink", "other-scheme", "host"])
def test_uri_outside_the_root_is_refused(local: LocalBlobStore, how: str) -> None:
    secret = local.root.parent / "secret.png"
    secret.write_bytes(b"not yours")
    (local.root / "ab").mkdir()
    link = local.root / "ab" / "link.png"
    link.symlink_to(secret)
    uri = {
        "dotdot": f"{local.root.as_uri()}/ab/../../secret.png",
        "encoded-dotdot": f"{local.root.as_uri()}/%2e%2e/secret.png",
        "symlink": link.as_uri(),
        "other-scheme": f"s3://media/{secret.name}",
        "host": f"file://elsewhere{secret}",
    }[how]
    ref = BlobRef(uri, hashlib.sha256(b"not yours").hexdigest(), 9, "image/png")
    for call in (lambda: local.get(ref, max_bytes=100), lambda: local.local_path(ref)):
        with pytest.raises(BlobError) as exc:
            call()
        assert reason(exc) is BlobReason.BAD_URI
    assert not local.owns(uri)


def test_missing_blob_is_not_found(local: LocalBlobStore) -> None:
    ref = BlobRef((local.root / "ab" / ("cd" * 31)).as_uri(), "ab" + "cd" * 31, 5, "image/png")
    with pytest.raises(BlobError) as exc:
        local.get(ref, max_bytes=100)
    assert reason(exc) is BlobReason.NOT_FOUND and not exc.value.retryable
    assert local.local_path(ref) is None


# --- S3 store ------------------------------------------------------------------------------


def test_s3_round_trip_of_a_photo(s3: Any, photo: bytes) -> None:
    store = S3BlobStore("media", prefix="/tenant-a/", region="us-east-1")
    sent: list[Any] = []
    store.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(request.headers)
    )
    ref = store.put(photo, mime="image/png")
    digest = hashlib.sha256(photo)
    key = f"tenant-a/{digest.hexdigest()[:2]}/{digest.hexdigest()[2:]}.png"
    assert ref == BlobRef(f"s3://media/{key}", digest.hexdigest(), len(photo), "image/png")
    head = s3.head_object(Bucket="media", Key=key)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"] == {"sha256": digest.hexdigest()}
    assert sent[0]["x-amz-checksum-sha256"] == base64.b64encode(digest.digest())
    assert store.get(ref, max_bytes=len(photo)) == photo
    assert store.put(photo, mime="image/png") == ref
    assert store.local_path(ref) is None


def test_s3_missing_object_is_not_found(s3: Any) -> None:
    store = S3BlobStore("media", client=s3)
    ref = BlobRef(f"s3://media/ab/{'cd' * 31}.png", "ab" + "cd" * 31, 5, "image/png")
    with pytest.raises(BlobError) as exc:
        store.get(ref, max_bytes=100)
    assert reason(exc) is BlobReason.NOT_FOUND and not exc.value.retryable


def test_s3_object_overwritten_behind_the_store_is_a_digest_mismatch(s3: Any, photo: bytes) -> None:
    store = S3BlobStore("media", client=s3)
    ref = store.put(photo, mime="image/png")
    s3.put_object(Bucket="media", Key=ref.uri.removeprefix("s3://media/"), Body=photo[::-1])
    with pytest.raises(BlobError) as exc:
        store.get(ref, max_bytes=len(photo))
    assert reason(exc) is BlobReason.DIGEST_MISMATCH


def test_s3_empty_blob_round_trips(s3: Any) -> None:
    store = S3BlobStore("media", client=s3)
    ref = store.put(b"", mime="text/plain")
    assert store.get(ref, max_bytes=0) == b""


class CountingBody:
    def __init__(self, body: Any) -> None:
        self.body = body
        self.taken = 0

    def read(self, amt: int | None = None) -> bytes:
        chunk: bytes = self.body.read(amt)
        self.taken += len(chunk)
        return chunk

    def close(self) -> None:
        self.body.close()


class IgnoresRange:
    """A client as of a store that ignores Range, counting the body bytes the caller takes."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.bodies: list[CountingBody] = []

    def get_object(self, **params: Any) -> Any:
        params.pop("Range")
        response = self.client.get_object(**params)
        self.bodies.append(CountingBody(response["Body"]))
        response["Body"] = self.bodies[-1]
        return response


def test_s3_lying_size_reads_at_most_size_plus_one(s3: Any) -> None:
    store = S3BlobStore("media", client=s3)
    ref = store.put(os.urandom(MiB), mime="application/octet-stream")
    lie = BlobRef(ref.uri, ref.sha256, 10, ref.mime)
    ignoring = IgnoresRange(s3)
    for client in (s3, ignoring):
        with pytest.raises(BlobError) as exc:
            S3BlobStore("media", client=client).get(lie, max_bytes=100)
        assert reason(exc) is BlobReason.DIGEST_MISMATCH
    assert [body.taken for body in ignoring.bodies] == [11]


def test_s3_refuses_uris_outside_its_bucket_and_prefix(s3: Any) -> None:
    store = S3BlobStore("media", prefix="tenant-a", client=s3)
    digest = "ab" * 32
    for uri in (
        f"s3://other/tenant-a/ab/{digest[2:]}",
        f"s3://media/tenant-b/ab/{digest[2:]}",
        f"s3://media/tenant-a/../tenant-b/ab/{digest[2:]}",
        f"s3://media/tenant-a//ab/{digest[2:]}",
        f"file:///media/tenant-a/ab/{digest[2:]}",
    ):
        with pytest.raises(BlobError) as exc:
            store.get(BlobRef(uri, digest, 1, "image/png"), max_bytes=10)
        assert reason(exc) is BlobReason.BAD_URI, uri
    assert store.owns(f"s3://media/tenant-a/ab/{digest[2:]}")


@pytest.mark.parametrize(
    ("code", "status", "expected", "retryable"),
    [
        ("SlowDown", 503, BlobReason.UNAVAILABLE, True),
        ("InternalError", 500, BlobReason.UNAVAILABLE, True),
        ("AccessDenied", 403, BlobReason.UNAVAILABLE, False),
        ("NoSuchBucket", 404, BlobReason.NOT_FOUND, False),
    ],
)
def test_s3_error_codes_map_to_reasons(
    code: str, status: int, expected: BlobReason, retryable: bool
) -> None:
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    store = S3BlobStore("media", client=client)
    ref = BlobRef(f"s3://media/ab/{'cd' * 31}", "ab" + "cd" * 31, 1, "image/png")
    with Stubber(client) as stub, pytest.raises(BlobError) as exc:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        store.get(ref, max_bytes=10)
    assert (reason(exc), exc.value.retryable) == (expected, retryable)


def test_s3_unreachable_store_is_retryable() -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(BlobError) as exc:
        S3BlobStore("media", client=client).put(b"x", mime="text/plain")
    assert reason(exc) is BlobReason.UNAVAILABLE and exc.value.retryable


# --- specs --------------------------------------------------------------------------------


def test_open_store_local_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for spec, root in [
        ((tmp_path / "a b").as_uri(), tmp_path / "a b"),
        (f"file://localhost{tmp_path}/c", tmp_path / "c"),
        (str(tmp_path / "d"), tmp_path / "d"),
        ("relative/e", tmp_path / "relative" / "e"),
    ]:
        store = open_store(spec)
        assert isinstance(store, LocalBlobStore) and store.root == root.resolve(), spec
        assert root.is_dir()


def test_open_store_s3_specs() -> None:
    store = open_store(
        "s3://media/tenant-a/raw?endpoint=http://minio:9000&region=eu-west-1&addressing=virtual"
    )
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("media", "tenant-a/raw/")
    meta = store.client.meta
    assert (meta.endpoint_url, meta.region_name) == ("http://minio:9000", "eu-west-1")
    assert meta.config.s3["addressing_style"] == "virtual"
    plain = open_store("s3://media-1250000000")
    assert isinstance(plain, S3BlobStore) and plain.prefix == ""


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "  ",
        "http://example.com/blobs",
        "file://remotehost/blobs",
        "file:///blobs?x=1",
        "file:relative",
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/p",
        "s3://media:9000/p",
        "s3://media?colour=blue",
        "s3://media?region",
        "s3://media?region=a&region=b",
        "s3://media?endpoint=ftp://host",
        "s3://media?endpoint=minio:9000",
        "s3://media?addressing=sideways",
    ],
)
def test_open_store_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        open_store(spec)


def test_credentials_in_an_s3_spec_are_refused_and_not_echoed() -> None:
    with pytest.raises(ConfigError) as exc:
        open_store("s3://AKIAKEY:hunter2@media/p")
    assert "hunter2" not in str(exc.value)


# Files: audio and video travel as files, never whole in memory.


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_put_file_and_open_file_round_trip(
    kind: str, local: LocalBlobStore, s3: Any, photo: bytes, tmp_path: Path
) -> None:
    store = local if kind == "local" else S3BlobStore("media", prefix="v", client=s3)
    # A multi-part upload for S3 (boto3 switches at 8 MiB), one copy for the local store.
    source = tmp_path / "clip.mp4"
    source.write_bytes(photo * (9 * MiB // len(photo) + 1))
    ref = store.put_file(source, mime="video/mp4")
    assert ref == store.put(source.read_bytes(), mime="video/mp4")  # one address per content
    with store.open_file(ref, max_bytes=ref.size) as path:
        assert path.read_bytes() == source.read_bytes()
    if kind == "s3":
        assert not path.exists()  # the temporary download is gone with the context


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_open_file_refuses_tampered_and_oversized_blobs(
    kind: str, local: LocalBlobStore, s3: Any, photo: bytes, tmp_path: Path
) -> None:
    store = local if kind == "local" else S3BlobStore("media", client=s3)
    source = tmp_path / "a.png"
    source.write_bytes(photo)
    ref = store.put_file(source, mime="image/png")
    with pytest.raises(BlobError) as exc, store.open_file(ref, max_bytes=ref.size - 1):
        pass
    assert reason(exc) is BlobReason.TOO_LARGE
    if kind == "local":
        (local.local_path(ref) or Path()).write_bytes(photo[::-1])
    else:
        s3.put_object(Bucket="media", Key=ref.uri.removeprefix("s3://media/"), Body=photo[::-1])
    with pytest.raises(BlobError) as exc, store.open_file(ref, max_bytes=ref.size):
        pass
    assert reason(exc) is BlobReason.DIGEST_MISMATCH
