"""Keys shared by the label tests: fixed bytes, so a failure reproduces exactly."""

from __future__ import annotations

import pytest

from synthguard.labels.signing import Keyring

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(100, 132))


@pytest.fixture
def ring() -> Keyring:
    return Keyring({"k1": KEY_1}, "k1")


@pytest.fixture
def rotated_ring() -> Keyring:
    """k1 retired from signing but still held for verification; k2 signs."""
    return Keyring({"k1": KEY_1, "k2": KEY_2}, "k2")


@pytest.fixture
def ring_without_k1() -> Keyring:
    return Keyring({"k2": KEY_2}, "k2")
