"""Video labels on real footage: label, verify, strip, alter, re-encode and spread (Art. 16-18)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from clips import bunny_clip

from synthguard.labels.aigc import AigcRecord
from synthguard.labels.image import Classification, watermark_id
from synthguard.labels.judge import RECORD_TAG
from synthguard.labels.signing import Keyring
from synthguard.labels.verify import LabelStatus
from synthguard.labels.video import (
    LabeledVideo,
    label_video,
    propagate_video,
    verify_video,
)
from synthguard.labels.visible import Corner
from synthguard.media.av_io import packet_digest, probe
from synthguard.media.image_io import MediaError
from synthguard.media.segments import EncodeSettings, remux, split_video, transcode_segment

KEYS = Keyring({"k1": b"k" * 32}, "k1")
FAST = EncodeSettings(preset="ultrafast")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bunny_clip(tmp_path_factory.mktemp("vsrc") / "bunny.mp4", frames=150, gop=25)


@pytest.fixture(scope="module")
def labeled(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LabeledVideo]:
    dst = tmp_path_factory.mktemp("vout") / "labeled.mp4"
    result = label_video(
        source,
        dst,
        produce_id="vid-1",
        producer="prod-a",
        keyring=KEYS,
        corner=Corner.TOP_LEFT,
        settings=FAST,
        segment_seconds=2.0,
    )
    return dst, result


def test_labeled_video_verifies_intact_with_all_three_labels(
    source: Path, labeled: tuple[Path, LabeledVideo]
) -> None:
    path, result = labeled
    assert result.segments == 3
    assert result.watermark_id == watermark_id("prod-a", "vid-1")
    found = verify_video(path, KEYS)
    assert found.status is LabelStatus.INTACT, found.verification.detail
    assert found.verdict.watermark.payload == result.watermark_id
    assert found.explicit_corner is Corner.TOP_LEFT
    report = found.to_json_dict()
    assert report["watermark"]["matches_record"] is True  # type: ignore[index]
    assert report["record"]["ProduceID"] == "vid-1"  # type: ignore[index]
    # the whole source is there: every frame, the same timeline, the soundtrack
    before, after = probe(source), probe(path)
    assert after.audio is not None and after.audio.codec == "aac"
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 150
    assert after.duration_s == pytest.approx(before.duration_s, abs=0.05)


def test_source_footage_is_unlabeled(source: Path) -> None:
    found = verify_video(source, KEYS)
    assert found.status is LabelStatus.UNLABELED
    assert not found.verdict.watermark.found and found.explicit_corner is None


def test_stripped_metadata_leaves_the_watermark(
    labeled: tuple[Path, LabeledVideo], tmp_path: Path
) -> None:
    stripped = tmp_path / "stripped.mp4"
    remux(labeled[0], stripped, {RECORD_TAG: None})
    found = verify_video(stripped, KEYS)
    assert found.status is LabelStatus.WATERMARK_ONLY
    assert found.verdict.watermark.payload == labeled[1].watermark_id


def test_edited_record_is_altered(labeled: tuple[Path, LabeledVideo], tmp_path: Path) -> None:
    fields = labeled[1].record.to_fields() | {"ContentProducer": "someone-else"}
    edited = tmp_path / "edited.mp4"
    remux(labeled[0], edited, {RECORD_TAG: json.dumps(fields)})
    assert verify_video(edited, KEYS).status is LabelStatus.ALTERED
    garbled = tmp_path / "garbled.mp4"
    remux(labeled[0], garbled, {RECORD_TAG: '{"Label": '})
    found = verify_video(garbled, KEYS)
    assert found.status is LabelStatus.ALTERED and "malformed" in found.verification.detail


def test_reencoded_content_under_the_old_record_is_altered_but_watermarked(
    labeled: tuple[Path, LabeledVideo], tmp_path: Path
) -> None:
    # Re-encode the labeled video at CRF 28, then put the original record back on it.
    segment = split_video(labeled[0], tmp_path, seconds=100.0)[0]
    reencoded = tmp_path / "crf28.mp4"
    transcode_segment(segment.path, reencoded, None, EncodeSettings(crf=28, preset="ultrafast"))
    assert packet_digest(reencoded) != packet_digest(labeled[0])
    relabeled = tmp_path / "relabeled.mp4"
    remux(reencoded, relabeled, {RECORD_TAG: labeled[1].record.fields_json()})
    found = verify_video(relabeled, KEYS)
    assert found.status is LabelStatus.ALTERED
    assert found.verdict.watermark.payload == labeled[1].watermark_id
    assert "still carries this record's ID" in found.verification.detail


def test_platform_spreading_a_labeled_video_adds_its_fields_without_reencoding(
    labeled: tuple[Path, LabeledVideo], tmp_path: Path
) -> None:
    out = tmp_path / "spread.mp4"
    result = propagate_video(
        labeled[0], out, propagator="plat-b", propagate_id="p-9", keyring=KEYS, declared_ai=False
    )
    assert result.classification is Classification.CONFIRMED
    assert packet_digest(out) == packet_digest(labeled[0])
    found = verify_video(out, KEYS)
    assert found.status is LabelStatus.INTACT
    record = found.verification.record
    assert isinstance(record, AigcRecord)
    assert (record.content_producer, record.content_propagator) == ("prod-a", "plat-b")


def test_bad_video_is_refused_before_any_work(source: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(source.read_bytes()[:5000])
    with pytest.raises(MediaError) as exc:
        label_video(truncated, tmp_path / "o.mp4", produce_id="x", producer="p", keyring=KEYS)
    assert exc.value.reason in ("truncated", "corrupt")


def test_hevc_stays_hevc_and_verifies(source: Path, tmp_path: Path) -> None:
    # the source's codec family is kept where we have an encoder for it (H.264 otherwise)
    hevc = tmp_path / "hevc.mp4"
    transcode_segment(source, hevc, None, EncodeSettings(codec="libx265", preset="ultrafast"))
    out = tmp_path / "labeled.mp4"
    label_video(hevc, out, produce_id="h-1", producer="prod-a", keyring=KEYS, settings=FAST)
    after = probe(out)
    assert after.video is not None and after.video.codec == "hevc"
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_tag == "hvc1"
    found = verify_video(out, KEYS)
    assert found.status is LabelStatus.INTACT
    assert found.verdict.watermark.payload == watermark_id("prod-a", "h-1")
