"""Sample data bundled for `synthguard run`: artifacts, real-name registry, keyword library.

The texts are our own, written for this project; the keywords are plain descriptions of
illegal offers (fraud, gambling, weapons, drugs, personal data) of the kind a platform's
feature library holds.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import orjson


def _load(name: str) -> list[dict[str, Any]]:
    text = files(__name__).joinpath(name).read_bytes()
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def load_artifacts() -> list[dict[str, Any]]:
    return _load("artifacts.jsonl")


def load_realname() -> list[dict[str, Any]]:
    return _load("realname.jsonl")


def load_keywords() -> list[dict[str, Any]]:
    return _load("keywords.jsonl")
