"""The text path after the Art. 9 gate: labels (Art. 16-18), then review (Art. 10), chained
in one step. The stages share the artifact_id key, so nothing needs repartitioning between
them; chaining them in-process (as Kafka Streams fuses a sub-topology) saves two topic hops per
artifact and keeps at-least-once: the input is acknowledged only after the last stage."""

from __future__ import annotations

from synthguard.labeling import LabelPolicy, label_text_artifact
from synthguard.records import Record, StageOutput
from synthguard.review.keywords import KeywordLibrary
from synthguard.review.refuted import check_rumors
from synthguard.review.rumors import RumorIndex
from synthguard.review.text import review_text


def process_text(
    state: Record, *, policy: LabelPolicy, library: KeywordLibrary, rumors: RumorIndex
) -> StageOutput:
    """An admitted TEXT artifact's state in; labels, review (Art. 10, 11) and verdict out."""
    return check_rumors(review_text(label_text_artifact(state, policy), library), rumors)
