"""Registry views: compacted reference topics read whole into every worker.

Every worker needs the whole registry (an artifact's user may live on any partition), so
this reader assigns itself every partition instead of joining a consumer group, reads to the
end before agents start, and then tails for live updates. Tansu answers ListOffsets with the
base offset of the last batch + 1, so "caught up" means "fetched the last batch", which a
fetch of whole batches satisfies; tailing covers anything later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from synthguard.codecs.avro import AvroCodec
from synthguard.complaints.board import ComplaintBoard
from synthguard.dlq import MAX_ATTEMPTS, DeadLetter, decide
from synthguard.errors import DecodeError, ValidationError
from synthguard.gates import GateViews
from synthguard.records import Record
from synthguard.review.keywords import KeywordEntry, KeywordLibrary, Severity
from synthguard.review.media import MediaFeatureLibrary
from synthguard.review.rumors import Rumor, RumorIndex
from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.catalog import TopicSpec
from synthguard.streams.clients import aiokafka_kwargs

log = logging.getLogger(__name__)

Apply = Callable[[str, Record | None], None]
STAGE = "registry"


class RegistryView(dict[str, Record]):
    """key -> entry of a compacted registry topic; a tombstone forgets the key."""

    def apply(self, key: str, value: Record | None) -> None:
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value


def keyword_applier(library: KeywordLibrary) -> Apply:
    def apply(key: str, value: Record | None) -> None:
        if value is None:
            library.remove(key)
        else:
            library.put(
                KeywordEntry(
                    value["entry_id"], value["term"], value["category"], Severity(value["severity"])
                )
            )

    return apply


def media_feature_applier(library: MediaFeatureLibrary) -> Apply:
    def apply(key: str, value: Record | None) -> None:
        if value is None:
            library.remove(key)
        else:
            library.put(value)

    return apply


def rumor_applier(index: RumorIndex) -> Apply:
    def apply(key: str, value: Record | None) -> None:
        if value is None:
            index.remove(key)  # withdrawn
        else:
            index.put(Rumor(**value))

    return apply


class RegistryReader:
    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        codecs: dict[str, AvroCodec],
        dead_letter: Callable[[DeadLetter], Awaitable[None]],
        rumors: RumorIndex,
    ):
        self.settings = settings
        self._dead_letter = dead_letter
        self.bootstrap = bootstrap
        realname, consents, services, news = (RegistryView() for _ in range(4))
        self.gates = GateViews(realname, consents, services, news)
        self.keywords = KeywordLibrary()
        self.media_features = MediaFeatureLibrary()
        self.rumors = rumors
        # Not a registry, but read the same way: every worker's web pages show any complaint.
        self.complaints = ComplaintBoard()
        views: list[tuple[TopicSpec, Apply]] = [
            (catalog.REGISTRY_REALNAME, realname.apply),
            (catalog.REGISTRY_CONSENTS, consents.apply),
            (catalog.REGISTRY_SERVICES, services.apply),
            (catalog.REGISTRY_NEWS_SOURCES, news.apply),
            (catalog.REGISTRY_KEYWORDS, keyword_applier(self.keywords)),
            (catalog.REGISTRY_MEDIA_FEATURES, media_feature_applier(self.media_features)),
            (catalog.REGISTRY_RUMORS, rumor_applier(rumors)),
            (catalog.COMPLAINTS_FEEDBACK, self.complaints.apply),
        ]
        self._appliers = {spec.name: (spec, apply) for spec, apply in views}
        self._codecs = codecs
        self.positions: dict[str, dict[int, int]] = {name: {} for name in self._appliers}
        self.ready = asyncio.Event()
        self.rejected = 0

    async def _apply(self, message: Any) -> None:
        spec, apply = self._appliers[message.topic]
        key = message.key.decode("utf-8") if message.key else ""
        try:
            value = (
                None if message.value is None else self._codecs[spec.subject].decode(message.value)
            )
            apply(key, value)
        except (DecodeError, ValidationError, ValueError, KeyError) as exc:
            # A bad registry entry must not stop the pipeline: dead-lettered, and counted.
            self.rejected += 1
            log.error(
                "registry %s[%s]@%s rejected: %s",
                message.topic,
                message.partition,
                message.offset,
                exc,
            )
            decision = decide(
                exc,
                MAX_ATTEMPTS,
                stage=STAGE,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                payload=message.value,
            )
            if isinstance(decision, DeadLetter):
                await self._dead_letter(decision)
        self.positions[message.topic][message.partition] = message.offset + 1

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            **aiokafka_kwargs(self.settings),
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(name, p)
                for name in self._appliers
                for p in sorted(await _partitions(consumer, name))
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            while not self.ready.is_set():
                await self._poll(consumer)
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                    self.ready.set()
                    log.info("registries loaded: %s", self.sizes())
            while True:
                await self._poll(consumer)
        finally:
            await consumer.stop()

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        batches = await consumer.getmany(timeout_ms=200)
        for messages in batches.values():
            for message in messages:
                await self._apply(message)

    def sizes(self) -> dict[str, int]:
        g = self.gates
        return {
            "users": len(g.realname),
            "consents": len(g.consents),
            "services": len(g.services),
            "news_sources": len(g.news_sources),
            "keywords": len(self.keywords),
            "media_features": len(self.media_features),
            "rumors": len(self.rumors),
            "complaints": len(self.complaints),
        }

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready.is_set(),
            "positions": {
                topic: {str(p): offset for p, offset in parts.items()}
                for topic, parts in self.positions.items()
            },
            **self.sizes(),
            "keyword_version": self.keywords.version,
            "media_feature_version": self.media_features.version,
            "rejected": self.rejected,
        }


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} not found; run `synthguard topics create` first")
