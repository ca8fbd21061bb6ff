"""One frozen settings object, read from the environment and an optional TOML file, validated
at start. Environment variables win over the file: `SYNTHGUARD_<FIELD>` (upper case)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from synthguard.complaints.policy import DEFAULT_DEADLINES, ComplaintPolicy, parse_deadlines
from synthguard.errors import ConfigError
from synthguard.labels.signing import Keyring
from synthguard.labels.text import NoticePosition, is_explicit_notice
from synthguard.labels.visible import Corner, text_for_locale
from synthguard.media.av_io import MediaLimits
from synthguard.media.segments import EncodeSettings
from synthguard.review.ladder import Ladder

EMBEDDED = "embedded"
# Kafka client options passed through to real clusters (SASL/TLS); aiokafka/Faust names.
SECURITY_FIELDS = (
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_cafile",
    "ssl_certfile",
    "ssl_keyfile",
)

# The reviewer token is the console's only credential and travels as its cookie: long enough
# that guessing it online is hopeless (32 URL-safe characters hold 192 bits), and made only of
# cookie-safe characters (RFC 6265 cookie-octet: no space, quote, comma, semicolon, backslash).
REVIEWER_TOKEN_MIN = 32
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+")


@dataclass(frozen=True)
class Settings:
    broker: str = EMBEDDED
    """`embedded` (start Tansu here) or `kafka://host:port[,host:port]` for any Kafka."""
    home: Path = Path(".synthguard")
    """State folder: development label keys, broker log, labeled output."""
    app_id: str = "synthguard"
    partitions: int = 4
    replication: int = 1
    producer_id: str = "synthguard-dev"
    """ContentProducer code written into every AIGC record (Art. 16)."""
    label_keys: str = ""
    """`kid:base64key,...`; empty = a development key generated once under `home`."""
    label_key_id: str = ""
    notice_zh: str = "【本内容由人工智能生成】"
    notice_en: str = "[AI生成 AI-generated]"
    """Both notices must hold "AI"/"人工智能" and "生成"/"合成" (GB 45438-2025 text rule)."""
    notice_position: NoticePosition = NoticePosition.START
    ladder: str = "1:WARNING,2:FUNCTION_RESTRICTION,3:SUSPENSION,5:ACCOUNT_CLOSURE"
    max_text_bytes: int = 1_000_000
    blob_store: str = ""
    """Claim-check store for media: a folder, file:///path or s3://bucket/prefix?endpoint=URL
    (any S3-compatible store); empty = `home`/blobs."""
    max_blob_bytes: int = 100_000_000
    max_image_pixels: int = 50_000_000
    """Decompression-bomb guard: refused from the header, before any pixel is decoded."""
    max_av_bytes: int = 20_000_000_000
    """Audio and video files travel as files, never whole in memory, so their cap is larger."""
    max_media_seconds: float = 3 * 3600.0
    max_video_pixels: int = 8192 * 4320
    max_frame_rate: float = 240.0
    """Absurd durations, sizes and frame rates are refused from the container header."""
    segment_seconds: float = 4.0
    """Videos are cut at the first keyframe after this many seconds; segments are labeled in
    parallel by any watermark worker (media.segments)."""
    segment_timeout_s: float = 120.0
    """A video with no segment finished for this long has its missing segments issued again
    under new keys (other partitions, other workers); the first result of each wins."""
    video_crf: int = 20
    video_preset: str = "veryfast"
    """libx264 settings for labeled video: every segment of a video uses the same."""
    media_workers: int = 2
    pdq_match_distance: int = 31
    """Hamming distance (of 256 bits) at or under which two PDQ hashes match; 31 is the
    threshold Meta's ThreatExchange uses."""
    pdq_min_quality: int = 50
    """PDQ hashes of lower quality (flat, featureless frames) are not matched (Meta's advice)."""
    rumor_jaccard: float = 0.0
    """MinHash Jaccard (character n-grams) at or over which a text repeats a refuted rumor;
    0 = the matcher's measured default."""
    rumor_cosine: float = 0.0
    """Embedding cosine at or over which a text paraphrases a refuted rumor; 0 = the default."""
    rumor_embeddings: bool = True
    """Paraphrase matching with the multilingual sentence-embedding model (Art. 11)."""
    audit_retention_days: int = 180
    """audit.log retention; network logs are kept at least six months (Cybersecurity Law
    Art. 21(3)). Applied when `topics create` makes the topic."""
    """Processes that decode, label and watermark media beside each worker's event loop."""
    image_notice: str = ""
    """Visible image label (Art. 17); must hold "AI"/"人工智能" and "生成"/"合成". Empty = the
    default text of `image_notice_locale`."""
    image_notice_locale: str = "zh-CN"
    image_notice_corner: Corner = Corner.BOTTOM_RIGHT
    scene_prompt: str = "本场景由人工智能生成"
    """Start-screen prompt for virtual scenes and digital humans (Art. 17 (4))."""
    propagator_id: str = "synthguard-dev"
    """ContentPropagator code written when we spread content others produced (GB 45438)."""
    session_timeout_s: float = 10.0
    """Short on purpose: Tansu holds JoinGroup for half the session timeout."""
    fetch_max_wait_ms: int = 10
    web_port: int = 6066
    complaint_deadlines: str = DEFAULT_DEADLINES
    """Published response deadline per complaint category (Art. 12): CATEGORY=<n><s|m|h|d>."""
    complaint_warn_at: float = 0.75
    """Share of a ticket's window after which a still-open ticket raises a warning alert."""
    complaint_rate_limit: int = 5
    """Complaints one submitter may file per `complaint_rate_window_s`."""
    complaint_rate_window_s: int = 3600
    complaint_max_chars: int = 2000
    complaint_tick_s: float = 5.0
    """How often each worker's timer looks for tickets at their warning time or deadline."""
    complaint_ticket_retention_s: int = 7 * 86400
    """How long a decided ticket stays in the tracker's table before it is deleted."""
    reviewer_token: str = field(default="", repr=False)
    """Shared secret of the reviewer console (/console/); empty: the console is closed."""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    def __post_init__(self) -> None:
        if self.broker != EMBEDDED and not self.broker.startswith("kafka://"):
            raise ConfigError(
                f"broker must be 'embedded' or kafka://host:port[,host:port], got {self.broker!r}"
            )
        if self.partitions < 1 or self.replication < 1:
            raise ConfigError("partitions and replication must be >= 1")
        for name in (
            "max_text_bytes",
            "max_blob_bytes",
            "max_image_pixels",
            "media_workers",
            "max_av_bytes",
            "max_video_pixels",
            "audit_retention_days",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        timing = (self.max_media_seconds, self.max_frame_rate, self.segment_seconds)
        if min(*timing, self.segment_timeout_s) <= 0:
            raise ConfigError(
                "max_media_seconds, max_frame_rate, segment_seconds and segment_timeout_s "
                "must be > 0"
            )
        if not (0 <= self.rumor_jaccard <= 1 and 0 <= self.rumor_cosine <= 1):
            raise ConfigError("rumor_jaccard and rumor_cosine must be in 0..1 (0: the default)")
        if not 0 <= self.pdq_match_distance <= 256 or not 0 <= self.pdq_min_quality <= 100:
            raise ConfigError("pdq_match_distance must be in 0..256 and pdq_min_quality in 0..100")
        if not 0 <= self.video_crf <= 51:
            raise ConfigError(f"video_crf must be in 0..51 (x264), got {self.video_crf}")
        self.user_ladder  # noqa: B018 - parse now so a bad ladder fails at start
        self.complaint_policy()
        if self.complaint_tick_s <= 0:
            raise ConfigError("complaint_tick_s must be > 0")
        token = self.reviewer_token
        if token and (len(token) < REVIEWER_TOKEN_MIN or not _COOKIE_OCTETS.fullmatch(token)):
            raise ConfigError(
                f"reviewer_token must be at least {REVIEWER_TOKEN_MIN} characters without spaces, "
                "quotes, commas, semicolons or backslashes; make one with: python3 -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not is_explicit_notice(self.image_label_text):
            raise ConfigError(
                f"image label {self.image_label_text!r} needs an AI element (AI, 人工智能) and "
                "a generation element (生成, 合成) (GB 45438-2025)"
            )

    @property
    def user_ladder(self) -> Ladder:
        return Ladder.parse(self.ladder)

    def complaint_policy(self) -> ComplaintPolicy:
        return ComplaintPolicy(
            parse_deadlines(self.complaint_deadlines),
            self.complaint_warn_at,
            self.complaint_rate_limit,
            self.complaint_rate_window_s,
            self.complaint_max_chars,
            self.complaint_ticket_retention_s,
        )

    @property
    def image_label_text(self) -> str:
        return self.image_notice or text_for_locale(self.image_notice_locale)

    @property
    def bootstrap(self) -> str:
        """host:port list for clients; only meaningful for an external broker."""
        if self.broker == EMBEDDED:
            raise ConfigError("the embedded broker's address is known only once it has started")
        return self.broker.removeprefix("kafka://")

    def with_broker(self, bootstrap: str) -> Settings:
        return _replace(self, broker=f"kafka://{bootstrap}")

    def security(self) -> dict[str, str]:
        """Non-empty SASL/TLS options, aiokafka-style names."""
        return {name: getattr(self, name) for name in SECURITY_FIELDS if getattr(self, name)}

    def keyring(self) -> Keyring:
        if self.label_keys:
            return Keyring.from_spec(self.label_keys, self.label_key_id or None)
        return _dev_keyring(self.home)

    def media_limits(self) -> MediaLimits:
        return MediaLimits(
            max_duration_s=self.max_media_seconds,
            max_pixels=self.max_video_pixels,
            max_fps=self.max_frame_rate,
        )

    def encode_settings(self) -> EncodeSettings:
        return EncodeSettings(crf=self.video_crf, preset=self.video_preset)

    def blob_store_spec(self) -> str:
        return self.blob_store or str((self.home / "blobs").resolve())

    def to_env(self) -> dict[str, str]:
        """The settings as environment variables, to hand to worker processes."""
        return {f"SYNTHGUARD_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


def _replace(settings: Settings, **changes: Any) -> Settings:
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    values.update(changes)
    return Settings(**values)


def load_settings(
    env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """File (SYNTHGUARD_CONFIG, TOML) < environment < explicit overrides (CLI flags)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if config := env.get("SYNTHGUARD_CONFIG"):
        try:
            raw.update(tomllib.loads(Path(config).read_text("utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read SYNTHGUARD_CONFIG={config}: {exc}") from exc
    known = {f.name: f for f in fields(Settings)}
    for name in known:
        if (value := env.get(f"SYNTHGUARD_{name.upper()}")) is not None:
            raw[name] = value
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}")
    typed: dict[str, Any] = {}
    for name, value in raw.items():
        default = getattr(Settings, name)
        try:
            typed[name] = _coerce(value, type(default))
        except ValueError as exc:
            raise ConfigError(f"setting {name}: {exc}") from exc
    return Settings(**typed)


def _coerce(value: Any, kind: Any) -> Any:
    if isinstance(value, kind):
        return value
    if kind is bool:
        return str(value).lower() in {"1", "true", "yes", "on"}
    if issubclass(kind, StrEnum):  # case-insensitive: "END" and "end" both name END
        return kind(str(value).lower())
    return kind(value)


def _dev_keyring(home: Path) -> Keyring:
    """A development key made once per state folder, so workers and the CLI agree.

    Production sets SYNTHGUARD_LABEL_KEYS from a secret store; this key is never shipped.
    """
    path = home / "label-keys.json"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps({"active": "dev", "keys": {"dev": key}}))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)  # atomic and first-writer-wins across processes
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    data = orjson.loads(path.read_bytes())
    return Keyring(
        {kid: base64.b64decode(key) for kid, key in data["keys"].items()}, data["active"]
    )
