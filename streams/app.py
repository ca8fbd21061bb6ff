"""The Faust app: one worker runs every stage; scale by starting more workers (consumer
group) up to the partition count."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Any

import faust
from faust.web import Request, Response, View

from synthguard.records import StageOutput
from synthguard.review.embeddings import load_embedder
from synthguard.review.media import MediaMatching, review_media
from synthguard.review.refuted import check_rumors
from synthguard.review.rumors import (
    COSINE_THRESHOLD,
    JACCARD_THRESHOLD,
    RumorIndex,
    RumorThresholds,
)
from synthguard.settings import Settings
from synthguard.streams import web
from synthguard.streams.agents import artifacts, complaints, manual_review, users, video
from synthguard.streams.agents.media import MediaPool
from synthguard.streams.clients import faust_credentials
from synthguard.streams.context import Context
from synthguard.streams.metrics import consumer_lag
from synthguard.streams.registry import RegistryReader
from synthguard.streams.transport import App


def faust_app(app_id: str, settings: Settings, bootstrap: str, web_port: int | None) -> App:
    """A Faust app configured for our brokers (the benchmark's baseline app is one too)."""
    return App(
        app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(settings),
        # Tansu holds JoinGroup for session_timeout/2: a short session keeps starts quick.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_request_timeout=max(40.0, settings.session_timeout_s * 2),
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        datadir=str(Path(settings.home) / "faust"),
        web_port=web_port or settings.web_port,
        web_host="127.0.0.1",
        producer_linger=0.005,
        stream_wait_empty=False,
        # Tansu's ListOffsets answers the last batch's base offset + 1, so after a rebalance
        # Faust finds a table's persisted offset "past the end" and crashes the worker
        # (ConsistencyError, seen when a second worker joins or dies). The check guards
        # against a deleted topic under a RocksDB store; our stores are in memory.
        recovery_consistency_check=False,
    )


def rumor_index(settings: Settings) -> RumorIndex:
    thresholds = RumorThresholds(
        settings.rumor_jaccard or JACCARD_THRESHOLD, settings.rumor_cosine or COSINE_THRESHOLD
    )
    return RumorIndex(thresholds, load_embedder() if settings.rumor_embeddings else None)


class Group(StrEnum):
    """Which stages a worker runs (`synthguard worker --group`). Run `all`, or `pipeline` and
    `watermark` side by side: never `all` beside `watermark`, or segments are labeled twice."""

    ALL = "all"
    """Every stage, one consumer group: `make run`, the tests, small deployments."""
    PIPELINE = "pipeline"
    """Every stage but labeling video segments."""
    WATERMARK = "watermark"
    """Labeling video segments only (the CPU-heavy, stateless part), in its own consumer group,
    so it scales on its own lag."""


def build_app(
    settings: Settings, bootstrap: str, *, web_port: int | None = None, group: Group = Group.ALL
) -> faust.App:
    if group is Group.WATERMARK:
        return watermark_app(settings, bootstrap, web_port)
    app = faust_app(settings.app_id, settings, bootstrap, web_port)
    ctx = Context(app, settings, bootstrap)
    ctx.open_tables()
    registries = RegistryReader(
        settings, bootstrap, ctx.codecs, ctx.emit_dead_letter, rumor_index(settings)
    )
    matching = MediaMatching(settings.pdq_match_distance, settings.pdq_min_quality)

    def review(output: StageOutput) -> StageOutput:
        reviewed = review_media(output, registries.media_features, registries.keywords, matching)
        return check_rumors(reviewed, registries.rumors)

    media = MediaPool(settings, review)
    artifacts.register(ctx, registries, media)
    if group is Group.ALL:
        video.register_segments(ctx, media)
    video.register_assembly(ctx, media)
    users.register(ctx)
    manual_review.register(ctx)
    web.register(app, ctx, registries.complaints, bootstrap)
    complaints.register(ctx, registries)

    async def read_registries() -> None:
        await registries.run()

    app.task(read_registries)

    @app.page("/registry/")
    async def registry_status(web: View, request: Request) -> Response:
        return web.json(registries.status())

    serve_health(app, ctx, media, registries.ready)
    return app


def watermark_app(settings: Settings, bootstrap: str, web_port: int | None) -> faust.App:
    app = faust_app(f"{settings.app_id}-watermark", settings, bootstrap, web_port)
    ctx = Context(app, settings, bootstrap)
    media = MediaPool(settings, segments_only)
    video.register_segments(ctx, media)
    serve_health(app, ctx, media, None)
    return app


def segments_only(output: StageOutput) -> StageOutput:
    raise RuntimeError("a watermark-group worker labels video segments only")


def serve_health(
    app: faust.App, ctx: Context, media: MediaPool, ready: asyncio.Event | None
) -> None:
    """The media pool's shutdown, the readiness probe and the metrics, for every group."""

    @app.on_before_shutdown.connect
    async def stop_media(*args: Any, **kwargs: Any) -> None:
        media.close()  # after the consumer stopped: no job is waiting on it any more

    @app.page("/ready/")
    async def readiness(web: View, request: Request) -> Response:
        """503 until the registries are loaded, when the agents start (no registries: ready)."""
        loaded = ready is None or ready.is_set()
        return web.json({"ready": loaded}, status=200 if loaded else 503)

    @app.page("/metrics/")
    async def metrics(web: View, request: Request) -> Response:
        monitor = app.monitor
        owned = [(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()]
        ends = {(tp.topic, tp.partition): o for tp, o in monitor.tp_end_offsets.items()}
        done = {(tp.topic, tp.partition): o for tp, o in monitor.tp_committed_offsets.items()}
        ctx.metrics.set_lag(consumer_lag(owned, ends, done))
        return web.bytes(ctx.metrics.render(), content_type="text/plain; version=0.0.4")


def run_worker(
    settings: Settings,
    bootstrap: str,
    *,
    web_port: int | None,
    loglevel: str,
    group: Group = Group.ALL,
) -> Any:
    """Blocks until the worker stops (SIGINT/SIGTERM)."""
    app = build_app(settings, bootstrap, web_port=web_port, group=group)
    return quiet_worker(app, loglevel).execute_from_commandline()


def quiet_worker(app: faust.App, loglevel: str) -> faust.Worker:
    """A Faust worker without the terminal spinner. The spinner sets the root logger to DEBUG
    so that it can spin on every record: every debug call in aiokafka and Faust then builds a
    LogRecord nobody prints (12% of a worker's CPU, measured), and escape codes fill log files."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.spinner = None
    return worker
