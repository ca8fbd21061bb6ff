"""Keyed integrity for labels (Deep Synthesis Provisions Art. 18: labels must not be altered).

GB 45438 reserves ReservedCode1 for the producer's own protection of content and label, and
ReservedCode2 for the propagator's. We put an HMAC there, ``sg1.<kid>.<mac>``: the key id lets
keys rotate (sign with the active key, verify with any key held), and the value stays inside the
standard's ASCII range and short. The MAC covers the content digest, so editing the content or
removing a visible notice from it is caught, not only edits to the record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from synthguard.errors import LabelError
from synthguard.labels.aigc import AigcRecord

SIGNATURE_SCHEME: Final = "sg1"
MIN_KEY_BYTES: Final = 16
DIGEST_BYTES: Final = 32  # SHA-256
MAC_BYTES: Final = 16  # HMAC-SHA256 truncated to 128 bits: 22 base64url characters
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_MAC_B64_CHARS = 22  # ceil(16 * 4 / 3) without padding
# Domain separation: a producer MAC can never be replayed as a propagator MAC or vice versa.
_PRODUCER_ROLE: Final = b"synthguard/aigc/producer"
_PROPAGATOR_ROLE: Final = b"synthguard/aigc/propagator"


class Keyring:
    """HMAC keys by id; `active` signs, every key verifies (so old labels survive rotation)."""

    __slots__ = ("_active", "_keys")

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if not keys:
            raise LabelError("keyring has no keys")
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
                raise LabelError(f"key id {kid!r} must match [A-Za-z0-9_-]{{1,16}}")
            if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
                # Never echo key material into an error message.
                raise LabelError(f"key {kid!r} must be at least {MIN_KEY_BYTES} bytes")
        if active not in keys:
            raise LabelError(f"active key id {active!r} is not in the keyring")
        self._keys: Mapping[str, bytes] = MappingProxyType(dict(keys))
        self._active = active

    @classmethod
    def from_spec(cls, spec: str, active: str | None = None) -> Keyring:
        """Parse ``kid1:base64key,kid2:base64key``; `active` defaults to the last key listed."""
        keys: dict[str, bytes] = {}
        for entry in spec.split(","):
            kid, sep, encoded = entry.strip().partition(":")
            if not sep or not kid or not encoded:
                raise LabelError("keyring spec entries must look like 'kid:base64key'")
            if kid in keys:
                raise LabelError(f"key id {kid!r} appears twice in the keyring spec")
            keys[kid] = _decode_key(kid, encoded.strip())
        return cls(keys, active if active is not None else list(keys)[-1])

    @property
    def active(self) -> str:
        return self._active

    @property
    def active_key(self) -> bytes:
        return self._keys[self._active]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    def __repr__(self) -> str:
        # Key ids only: a keyring must be safe to log.
        return f"Keyring(key_ids={list(self._keys)!r}, active={self._active!r})"


def _decode_key(kid: str, encoded: str) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    alphabet = b"-_" if ("-" in encoded or "_" in encoded) else None
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        raise LabelError(f"key {kid!r} in the keyring spec is not valid base64") from None


class SigState(StrEnum):
    """What one reserved code says about the record it sits in."""

    VALID = "valid"  # our MAC, a key we hold, matches content and fields
    INVALID = "invalid"  # our scheme but no match: content or fields altered, or mangled
    UNSIGNED = "unsigned"  # the reserved code is empty
    UNKNOWN_KEY = "unknown_key"  # our scheme, a key id we do not hold: cannot tell
    FOREIGN = "foreign"  # another provider's value (not sg1): cannot tell


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The producer (ReservedCode1) and propagator (ReservedCode2) verdicts, each with its kid."""

    producer: SigState
    propagator: SigState
    producer_kid: str | None = None
    propagator_kid: str | None = None


def content_digest(data: bytes) -> bytes:
    """SHA-256 of the exact content bytes the label speaks for."""
    return hashlib.sha256(data).digest()


def _frame(*parts: bytes) -> bytes:
    """Length-prefix every part, so ("ab", "c") and ("a", "bc") can never sign alike."""
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def _producer_message(record: AigcRecord, digest: bytes, kid: str) -> bytes:
    return _frame(
        _PRODUCER_ROLE,
        kid.encode("ascii"),
        digest,
        record.label.value.encode("ascii"),
        record.content_producer.encode("ascii"),
        record.produce_id.encode("ascii"),
    )


def _propagator_message(record: AigcRecord, digest: bytes, kid: str) -> bytes:
    fields = record.to_fields()
    del fields["ReservedCode2"]  # the MAC cannot cover its own slot
    return _frame(
        _PROPAGATOR_ROLE,
        kid.encode("ascii"),
        digest,
        *(value.encode("ascii") for value in fields.values()),
    )


def _mac(key: bytes, message: bytes) -> str:
    tag = hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(tag).rstrip(b"=").decode("ascii")


def _signature(keyring: Keyring, message: bytes) -> str:
    return f"{SIGNATURE_SCHEME}.{keyring.active}.{_mac(keyring.active_key, message)}"


def _check_digest(digest: bytes) -> None:
    if len(digest) != DIGEST_BYTES:
        raise LabelError(
            f"content digest must be {DIGEST_BYTES} bytes (SHA-256), got {len(digest)}"
        )


def sign_producer(record_without_sig: AigcRecord, digest: bytes, keyring: Keyring) -> AigcRecord:
    """Return the record with ReservedCode1 = our MAC over digest, Label, producer, ProduceID."""
    _check_digest(digest)
    record = record_without_sig
    if record.reserved_code1:
        # Overwriting would destroy another producer's integrity value (or our own).
        raise LabelError("record already carries a ReservedCode1; refusing to overwrite it")
    if not record.content_producer or not record.produce_id:
        raise LabelError("a producer signature needs ContentProducer and ProduceID")
    message = _producer_message(record, digest, keyring.active)
    return replace(record, reserved_code1=_signature(keyring, message))


def sign_propagator(
    record: AigcRecord, digest: bytes, keyring: Keyring, propagator: str, propagate_id: str
) -> AigcRecord:
    """Set ContentPropagator and PropagateID, and ReservedCode2 = our MAC over digest + all fields.

    Each propagator replaces the previous propagator's elements, as the standard describes; the
    MAC also covers ReservedCode1, so stripping the producer's signature afterwards is caught.
    """
    _check_digest(digest)
    if not propagator or not propagate_id:
        raise LabelError("a propagator signature needs ContentPropagator and PropagateID")
    unsigned = replace(
        record, content_propagator=propagator, propagate_id=propagate_id, reserved_code2=""
    )
    message = _propagator_message(unsigned, digest, keyring.active)
    return replace(unsigned, reserved_code2=_signature(keyring, message))


def _check_one(
    value: str, keyring: Keyring, message_for: Callable[[str], bytes]
) -> tuple[SigState, str | None]:
    """Classify one reserved code; `message_for(kid)` rebuilds what that kid would have signed."""
    if not value:
        return SigState.UNSIGNED, None
    scheme, _, rest = value.partition(".")
    if scheme != SIGNATURE_SCHEME:
        return SigState.FOREIGN, None
    kid, sep, mac = rest.partition(".")
    if not sep or not _KEY_ID.fullmatch(kid) or len(mac) != _MAC_B64_CHARS:
        return SigState.INVALID, kid or None
    key = keyring.key(kid)
    if key is None:
        return SigState.UNKNOWN_KEY, kid
    expected = _mac(key, message_for(kid))
    if hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        return SigState.VALID, kid
    return SigState.INVALID, kid


def check(record: AigcRecord, digest: bytes, keyring: Keyring) -> SignatureCheck:
    """Verify both reserved codes of `record` against the content `digest`."""
    _check_digest(digest)
    producer, producer_kid = _check_one(
        record.reserved_code1, keyring, lambda kid: _producer_message(record, digest, kid)
    )
    propagator, propagator_kid = _check_one(
        record.reserved_code2, keyring, lambda kid: _propagator_message(record, digest, kid)
    )
    return SignatureCheck(producer, propagator, producer_kid, propagator_kid)
