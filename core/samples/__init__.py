"""Sample data bundled for `synthguard run`: artifacts and the registries (real names,
services, consents, news sources, keyword library).

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


def load_services() -> list[dict[str, Any]]:
    """Assessments and filings (Art. 15, 19, 20); the filing numbers are made up."""
    return _load("services.jsonl")


def load_consents() -> list[dict[str, Any]]:
    return _load("consents.jsonl")


def load_news_sources() -> list[dict[str, Any]]:
    return _load("news_sources.jsonl")


def load_rumors() -> list[dict[str, Any]]:
    """Refuted rumors (Art. 11), written for this project in the shape of real ones."""
    return _load("rumors.jsonl")


def load_complaints() -> list[dict[str, Any]]:
    """Appeals, complaints and reports about the sample artifacts (Art. 12): some open, some
    refused (already labeled, unknown artifact), one a duplicate; `submitted_at` is added when
    they are filed."""
    return _load("complaints.jsonl")


def load_media_features() -> list[dict[str, Any]]:
    """One PDQ hash: scikit-image's rocket photograph, so img-rocket waits for a reviewer."""
    return _load("media_features.jsonl")
