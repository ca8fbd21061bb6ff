"""The media process pool: decoding, drawing and watermarking run in `media_workers`
processes beside the worker's event loop, so heartbeats, texts and other photos keep moving.

Processes are spawned, not forked: the worker already runs aiokafka's threads and an event
loop, which a fork would copy half-way. Each process opens the blob store and keyring once.
A process that dies (killed, out of memory) breaks the pool; the pool is rebuilt and the
artifact retried, then dead-lettered by the usual policy, so one bad file cannot stop a worker.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from synthguard.blobs import BlobStore, open_store
from synthguard.errors import SynthguardError
from synthguard.imagepath import ImagePolicy, label_image_artifact
from synthguard.records import Record, StageOutput
from synthguard.settings import Settings

_policy: ImagePolicy | None = None
_store: BlobStore | None = None


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


def _init_process(settings: Settings) -> None:
    global _policy, _store  # noqa: PLW0603 - one policy and store per pool process
    _policy = image_policy(settings)
    _store = open_store(settings.blob_store_spec())


def _label_job(state: Record) -> StageOutput:
    if _policy is None or _store is None:
        raise RuntimeError("media process used before its initializer ran")
    return label_image_artifact(state, _policy, _store)


class MediaPool:
    """Started on first use, so a worker that only ever sees text spawns nothing."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self._settings.media_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_process,
                initargs=(self._settings,),
            )
        return self._executor

    async def label_image(self, state: Record) -> StageOutput:
        pool = self._pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _label_job, state)
        except BrokenProcessPool as exc:
            if self._executor is pool:
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise SynthguardError(f"media process died: {exc}", retryable=True) from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
