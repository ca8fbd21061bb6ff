"""Faust codecs over the Avro wire format: `avro:<subject>` for every registered subject, so
any Faust app (ours, or another team's) can send and read our topics with `value_serializer`.
"""

from __future__ import annotations

from typing import Any

from faust.serializers.codecs import Codec, register

from synthguard.codecs.avro import AvroCodec, SchemaRegistry


def codec_name(subject: str) -> str:
    return f"avro:{subject}"


class FaustAvroCodec(Codec):
    def __init__(self, avro: AvroCodec) -> None:
        self.avro = avro
        super().__init__()

    def _dumps(self, obj: Any) -> bytes:
        return self.avro.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self.avro.decode(s)


def register_codecs(registry: SchemaRegistry) -> dict[str, AvroCodec]:
    """Register one Faust codec per subject; returns the Avro codecs by subject."""
    avro = {subject: AvroCodec(subject, registry) for subject in registry.subjects()}
    for subject, codec in avro.items():
        register(codec_name(subject), FaustAvroCodec(codec))
    return avro
