"""The media process pool: decoding, drawing, watermarking and encoding run in
`media_workers` processes beside the worker's event loop, so heartbeats, texts and other
media keep moving. Video segments are files in the blob store, never frames in messages.

Processes are spawned, not forked: the worker already runs aiokafka's threads and an event
loop, which a fork would copy half-way. Each process opens the blob store and keyring once.
A process that dies (killed, out of memory) breaks the pool; the pool is rebuilt and the
artifact retried, then dead-lettered by the usual policy, so one bad file cannot stop a worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from synthguard.audiopath import label_audio_artifact
from synthguard.blobs import BlobRef, BlobStore, open_store
from synthguard.errors import SynthguardError
from synthguard.imagepath import ImagePolicy, label_image_artifact
from synthguard.records import Record, StageOutput
from synthguard.settings import Settings
from synthguard.streams.broker import die_with_parent
from synthguard.videopath import (
    AVPolicy,
    assemble_video,
    hash_video,
    label_segment_job,
    open_video,
    propagate_video_artifact,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Process:
    image: ImagePolicy
    video: AVPolicy  # audio and video
    store: BlobStore


_process: _Process | None = None


def image_policy(settings: Settings) -> ImagePolicy:
    return ImagePolicy(
        producer_id=settings.producer_id,
        propagator_id=settings.propagator_id,
        keyring=settings.keyring(),
        notice=settings.image_label_text,
        corner=settings.image_notice_corner,
        max_pixels=settings.max_image_pixels,
        max_blob_bytes=settings.max_blob_bytes,
    )


def av_policy(settings: Settings) -> AVPolicy:
    return AVPolicy(
        producer_id=settings.producer_id,
        propagator_id=settings.propagator_id,
        keyring=settings.keyring(),
        notice=settings.image_label_text,
        corner=settings.image_notice_corner,
        limits=settings.media_limits(),
        encode=settings.encode_settings(),
        segment_seconds=settings.segment_seconds,
        max_bytes=settings.max_av_bytes,
    )


def _init_process(settings: Settings, worker_pid: int) -> None:
    global _process  # noqa: PLW0603 - one policy and store per pool process
    # A worker killed with SIGKILL cannot shut its pool down: its processes go with it
    # instead of encoding on as orphans.
    die_with_parent(worker_pid)
    store = open_store(settings.blob_store_spec())
    _process = _Process(image_policy(settings), av_policy(settings), store)


def _here() -> _Process:
    if _process is None:
        raise RuntimeError("media process used before its initializer ran")
    return _process


# The jobs, run in pool processes (module-level so they pickle by name).


def _label_image(state: Record) -> StageOutput:
    p = _here()
    return label_image_artifact(state, p.image, p.store)


def _label_audio(state: Record) -> StageOutput:
    p = _here()
    return label_audio_artifact(state, p.video, p.store)


def _open_video(state: Record) -> list[Record]:
    p = _here()
    return open_video(state, p.video, p.store)


def _hash_video(state: Record) -> list[Record]:
    p = _here()
    return hash_video(state, p.video, p.store)


def _label_segment(job: Record) -> BlobRef:
    p = _here()
    return label_segment_job(job, p.store, p.video.max_bytes)


def _assemble_video(state: Record, parts: list[BlobRef]) -> StageOutput:
    p = _here()
    return assemble_video(state, parts, p.video, p.store)


def _propagate_video(state: Record) -> StageOutput:
    p = _here()
    return propagate_video_artifact(state, p.video, p.store)


class MediaPool:
    """Started on first use, so a worker that only ever sees text spawns nothing."""

    def __init__(self, settings: Settings, review: Callable[[StageOutput], StageOutput]) -> None:
        """`review` decides each finished artifact on the event loop, against the live feature
        library (Art. 10), from the hashes the process took."""
        self._settings = settings
        self._review = review
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._settings.media_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                initargs=(self._settings, os.getpid()),
            )
        return self._executor

    async def label_image(self, state: Record) -> StageOutput:
        return self._review(await self._run(_label_image, state))

    async def label_audio(self, state: Record) -> StageOutput:
        return self._review(await self._run(_label_audio, state))

    async def hash_video(self, state: Record) -> list[Record]:
        return await self._run(_hash_video, state)

    async def open_video(self, state: Record) -> list[Record]:
        return await self._run(_open_video, state)

    async def label_segment(self, job: Record) -> BlobRef:
        return await self._run(_label_segment, job)

    async def assemble_video(self, state: Record, parts: list[BlobRef]) -> StageOutput:
        return self._review(await self._run(_assemble_video, state, parts))

    async def propagate_video(self, state: Record) -> StageOutput:
        return self._review(await self._run(_propagate_video, state))

    async def _run(self, job: Callable[..., T], *args: Any) -> T:
        pool = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, job, *args)
        except BrokenProcessPool as exc:
            if self._executor is pool:
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise SynthguardError(f"media process died: {exc}", retryable=True) from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
