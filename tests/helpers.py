"""Helpers for tests over the embedded broker and real workers, and real sample files."""

from __future__ import annotations

import base64
import functools
import io
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pygltflib as gl
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from synthguard import samples
from synthguard.blobs import BlobRef
from synthguard.gates import GateViews
from synthguard.labeling import LabelPolicy
from synthguard.labels.signing import Keyring
from synthguard.labels.text import NoticePosition
from synthguard.records import Record, now_ms
from synthguard.review.embeddings import load_embedder
from synthguard.review.rumors import DEFAULT_THRESHOLDS, Rumor, RumorIndex
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.catalog import TopicSpec
from synthguard.streams.client import (
    TopicReader,
    TopicWriter,
    decode_message,
    end_reader,
    read_to_end,
    topic_partitions,
)
from synthguard.streams.clients import confluent_config
from synthguard.streams.runner import WorkerProcess

# The admission checks of a generated artifact by a verified user of the test service.
ADMITTED = {
    "realname.verified": "PASS",
    "news.source": "NOT_APPLICABLE",
    "service.assessed": "PASS",
    "consent.biometric": "NOT_APPLICABLE",
}


KEYRING = Keyring({"k1": b"0123456789abcdef0123"}, "k1")
POLICY = LabelPolicy(
    "prod-test", KEYRING, "【本内容由人工智能生成】", "[AI生成 AI-generated]", NoticePosition.START
)
# The reviewer console's secret in the test workers (conftest.settings).
REVIEWER_TOKEN = "reviewer-token-for-tests-7c1e93ad52"  # 35 cookie-safe characters


def sample_views() -> GateViews:
    """The bundled sample registries, as the workers of `synthguard run` see them."""
    return GateViews(
        realname={e["user_id"]: e for e in samples.load_realname()},
        consents={e["consent_id"]: e for e in samples.load_consents()},
        services={e["service_id"]: e for e in samples.load_services()},
        news_sources={e["source_id"]: e for e in samples.load_news_sources()},
    )


@functools.cache
def sample_rumors() -> RumorIndex:
    """The bundled refuted rumors, matched as the workers of `synthguard run` match them."""
    index = RumorIndex(DEFAULT_THRESHOLDS, load_embedder())
    for entry in samples.load_rumors():
        index.put(Rumor(**entry))
    return index


def envelope(text: str, user_id: str, **overrides: Any) -> Record:
    record: Record = {
        "artifact_id": f"t-{uuid.uuid4().hex[:12]}",
        "submitted_at": now_ms(),
        "provider_id": "prov-test",
        "service_id": "svc-test",
        "user_id": user_id,
        "modality": "TEXT",
        "tech_category": "TEXT_GENERATION",
        "service_kind": "DIALOGUE",
        "declared_ai": True,
        "origin": "GENERATED",
        "title": None,
        "text": text,
        "blob": None,
        "biometric_subjects": [],
        "is_news": False,
        "news_source": None,
        "existing_label": None,
        "attributes": {},
    }
    record.update(overrides)
    return record


def media_envelope(user_id: str, blob: BlobRef, modality: str, **overrides: Any) -> Record:
    """An envelope for a file in the blob store (no inline text)."""
    return envelope("", user_id, modality=modality, blob=blob.to_record(), **overrides) | {
        "text": None
    }


def read_until(
    settings: Settings,
    broker: str,
    spec: TopicSpec,
    done: Callable[[list[Record]], bool],
    *,
    match: Callable[[Record], bool],
    timeout_s: float = 90.0,
) -> list[Record]:
    """Records of `spec` that `match`, read from the beginning until `done` says so."""
    reader = TopicReader(settings, broker, [spec.name])
    found: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        for message in reader.messages(timeout_s):
            record = decode_message(spec, message)
            if record is not None and match(record):
                found.append(record)
                if done(found):
                    return found
            if time.monotonic() > deadline:
                break
    finally:
        reader.close()
    raise AssertionError(f"{spec.name}: gave up after {timeout_s}s with {len(found)} records")


def read_all(
    settings: Settings, broker: str, spec: TopicSpec, match: Callable[[Record], bool]
) -> list[Record]:
    """Every record of `spec` that `match`es, up to each partition's end now: for counting
    what must not have come twice."""
    consumer = end_reader(settings, broker)
    try:
        starts = [
            TopicPartition(spec.name, p, OFFSET_BEGINNING)
            for p in topic_partitions(consumer, spec.name)
        ]
        return [
            record
            for message in read_to_end(consumer, starts)
            if (record := decode_message(spec, message)) is not None and match(record)
        ]
    finally:
        consumer.close()


def wait_committed(
    settings: Settings, broker: str, spec: TopicSpec, group: str, timeout_s: float = 240.0
) -> None:
    """Until consumer group `group` has committed every record of `spec` on the broker now:
    from then on none of them can be delivered again."""
    reader = end_reader(settings, broker)
    try:
        parts = topic_partitions(reader, spec.name)
        ends = dict.fromkeys(parts, 0)
        starts = [TopicPartition(spec.name, p, OFFSET_BEGINNING) for p in parts]
        for message in read_to_end(reader, starts):
            ends[message.partition() or 0] = (message.offset() or 0) + 1
    finally:
        reader.close()
    consumer = Consumer(confluent_config(settings, broker, **{"group.id": group}))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            tps = [TopicPartition(spec.name, p) for p in parts]
            committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=30)}
            behind = {p: end - committed[p] for p, end in ends.items() if committed[p] < end}
            if not behind:
                return
            assert time.monotonic() < deadline, f"{group} still behind on {spec.name}: {behind}"
            time.sleep(0.5)
    finally:
        consumer.close()


def wait_for_worker(
    worker: WorkerProcess, ready: Callable[[dict[str, Any]], bool], timeout_s: float = 30.0
) -> dict[str, Any]:
    """Poll the worker's /registry/ status until `ready` holds; returns that status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = worker.status()
        if status and ready(status):
            return status
        time.sleep(0.05)
    raise AssertionError(f"worker status never satisfied the condition: {worker.status()}")


def wait_registry_applied(
    worker: WorkerProcess, topic: str, partition: int, offset: int, timeout_s: float = 30.0
) -> None:
    """Until the worker's registry view has applied `offset` of `topic[partition]`."""
    wait_for_worker(
        worker, lambda s: s["positions"][topic].get(str(partition), 0) > offset, timeout_s
    )


def register(writer: TopicWriter, worker: WorkerProcess, spec: TopicSpec, entry: Record) -> None:
    """Write a registry entry and wait until the worker's view has it."""
    partition, offset = writer.write_and_wait(spec, entry)
    wait_registry_applied(worker, spec.name, partition, offset)


def verdicts(
    settings: Settings, broker: str, writer: TopicWriter, *sources: Record
) -> list[Record]:
    """Submit artifacts; their compliance records, in the same order."""
    for source in sources:
        writer.write(catalog.ARTIFACTS_SUBMITTED, source)
    writer.flush()
    ids = [source["artifact_id"] for source in sources]
    found = {
        r["artifact_id"]: r
        for r in records_for(settings, broker, catalog.REPORTS_COMPLIANCE, set(ids))
    }
    return [found[i] for i in ids]


def scrape(worker: WorkerProcess) -> list[Sample]:
    """Every sample of `worker`'s /metrics/, read with prometheus_client's own parser (names
    as exposed: synthguard_events_total); none while the worker is not answering."""
    try:
        url = f"http://127.0.0.1:{worker.web_port}/metrics/"
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return []
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric(found: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the sample `name` with `labels` among `found`; None when there is none."""
    return next(
        (s.value for s in found if s.name == name and labels.items() <= s.labels.items()), None
    )


def events_total(worker: WorkerProcess, stage: str) -> float:
    """How many events `stage` has processed in `worker` (its Prometheus counter)."""
    found = metric(scrape(worker), "synthguard_events_total", outcome="processed", stage=stage)
    return found or 0.0


def kill_after(worker: WorkerProcess, stage: str, events: int, timeout_s: float = 180.0) -> None:
    """SIGKILL `worker` once `stage` has processed `events` events in it: mid-stream, with
    work done but not committed."""
    deadline = time.monotonic() + timeout_s
    while events_total(worker, stage) < events:
        assert time.monotonic() < deadline, f"{worker.log_path.stem} never reached {events}"
        time.sleep(0.02)
    os.kill(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()


def consent_entry(consent_id: str, subject_id: str, user_id: str, **fields: Any) -> Record:
    """A ConsentEntry in force since yesterday (Art. 14); `fields` override (features, uses)."""
    return {
        "consent_id": consent_id,
        "subject_id": subject_id,
        "user_id": user_id,
        "features": ["FACE"],
        "uses": ["FACE_SWAP"],
        "granted_at": now_ms() - 86_400_000,
        "expires_at": None,
        "revoked_at": None,
        "evidence_uri": None,
    } | fields


def verified_user(writer: TopicWriter, worker: WorkerProcess, status: str = "VERIFIED") -> str:
    user_id = f"u-{uuid.uuid4().hex[:8]}"
    entry = {"user_id": user_id, "status": status, "method": "PHONE", "verified_at": now_ms()}
    partition, offset = writer.write_and_wait(catalog.REGISTRY_REALNAME, entry)
    wait_registry_applied(worker, catalog.REGISTRY_REALNAME.name, partition, offset)
    return user_id


def records_for(
    settings: Settings,
    broker: str,
    spec: TopicSpec,
    ids: set[str],
    field: str = "artifact_id",
    count: int | None = None,
) -> list[Record]:
    want = len(ids) if count is None else count
    return read_until(
        settings,
        broker,
        spec,
        lambda found: len(found) >= want,
        match=lambda r: dig(r, field) in ids,
    )


def dig(record: Record, path: str) -> object:
    value: object = record
    for part in path.split("."):
        value = value[part] if isinstance(value, dict) else None
    return value


POINTS = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
INDICES = np.array([0, 1, 2], dtype=np.uint16)
BLOB = INDICES.tobytes() + b"\0\0" + POINTS.tobytes()  # indices padded to 4 bytes


def _triangle_model() -> gl.GLTF2:
    """A one-triangle mesh with a material, node extras and asset extras of its own."""
    model = gl.GLTF2(
        scene=0,
        scenes=[gl.Scene(nodes=[0])],
        nodes=[gl.Node(mesh=0, extras={"rig": "head"})],
        meshes=[
            gl.Mesh(
                primitives=[
                    gl.Primitive(attributes=gl.Attributes(POSITION=1), indices=0, material=0)
                ]
            )
        ],
        materials=[
            gl.Material(
                name="skin",
                pbrMetallicRoughness=gl.PbrMetallicRoughness(baseColorFactor=[1.0, 0.5, 0.25, 1.0]),
            )
        ],
        accessors=[
            gl.Accessor(
                bufferView=0, componentType=gl.UNSIGNED_SHORT, count=3, type=gl.SCALAR, max=[2]
            ),
            gl.Accessor(bufferView=1, componentType=gl.FLOAT, count=3, type=gl.VEC3),
        ],
        bufferViews=[
            gl.BufferView(buffer=0, byteOffset=0, byteLength=6, target=gl.ELEMENT_ARRAY_BUFFER),
            gl.BufferView(buffer=0, byteOffset=8, byteLength=36, target=gl.ARRAY_BUFFER),
        ],
        buffers=[gl.Buffer(byteLength=len(BLOB))],
        asset=gl.Asset(extras={"tool": "unit-test"}),
    )
    model.set_binary_blob(BLOB)
    return model


def triangle_scene(fmt: str) -> bytes:
    """A real one-triangle scene as `fmt` ("glb", or "gltf" with a data: URI buffer)."""
    model = _triangle_model()
    if fmt == "glb":
        return b"".join(model.save_to_bytes())
    model.buffers[0].uri = gl.DATA_URI_HEADER + base64.b64encode(BLOB).decode("ascii")
    return bytes(model.gltf_to_json().encode("utf-8"))


def decode_frames(
    source: Path | bytes, limit: int | None = None, size: tuple[int, int] | None = None
) -> list[av.VideoFrame]:
    """The first `limit` frames of a video file (path or bytes) as yuv420p, at `size` if given."""
    width, height = size or (None, None)
    frames: list[av.VideoFrame] = []
    with av.open(str(source) if isinstance(source, Path) else io.BytesIO(source), "r") as inp:
        for frame in inp.decode(video=0):
            if len(frames) == limit:
                break
            frames.append(frame.reformat(width=width, height=height, format="yuv420p"))
    return frames


def copy_frames(frames: Iterable[av.VideoFrame]) -> list[av.VideoFrame]:
    """Fresh yuv420p frames with the same pixels, to edit in place (decoded frames share
    buffers, and a module's fixture frames must stay as they are)."""
    return [av.VideoFrame.from_ndarray(f.to_ndarray(), format="yuv420p") for f in frames]


def h264(frames: Sequence[av.VideoFrame], *, crf: int = 23, fps: int = 25) -> bytes:
    """MP4 bytes of `frames` encoded with libx264 (veryfast) at `crf`, `fps` frames a second."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(
            "libx264", rate=fps, options={"crf": str(crf), "preset": "veryfast"}
        )
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, Fraction(1, fps)
            frame.pict_type = av.video.frame.PictureType.NONE  # else x264 copies decoded types
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()
