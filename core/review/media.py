"""Review for images, video keyframes and audio (Art. 10): the hashes the media workers took
(`state["media_hashes"]`) matched against the live feature library, plus the keyword review of
the artifact's prompt and title (users' input)."""

from __future__ import annotations

from dataclasses import dataclass

from synthguard.errors import ValidationError
from synthguard.records import Record, StageOutput
from synthguard.review.audio_fp import AudioFingerprint, AudioFingerprintIndex
from synthguard.review.findings import Finding, decide
from synthguard.review.keywords import KeywordLibrary, Severity
from synthguard.review.pdq import PdqHash, PdqIndex
from synthguard.review.text import keyword_findings
from synthguard.review.text import searched as keywords_searched

PDQ, CHROMAPRINT = "PDQ", "CHROMAPRINT"


class MediaFeatureLibrary:
    """registry.media_features as two indexes (PDQ, Chromaprint) and the entries' meaning."""

    def __init__(self) -> None:
        self.pdq = PdqIndex()
        self.audio = AudioFingerprintIndex()
        self.entries: dict[str, Record] = {}
        self.version = 0

    def put(self, entry: Record) -> None:
        """A MediaFeatureEntry; its value is parsed first, so a bad one changes nothing."""
        entry_id = entry["entry_id"]
        Severity(entry["severity"])  # the decision ranks it: refuse what it cannot rank
        # Each index replaces an entry under the same id; the other forgets it.
        if entry["signal"] == PDQ:
            self.pdq.put(entry_id, PdqHash.from_hex(entry["value"]))
            self.audio.remove(entry_id)
        elif entry["signal"] == CHROMAPRINT:
            self.audio.put(entry_id, AudioFingerprint.decode(entry["value"]))
            self.pdq.remove(entry_id)
        else:
            raise ValidationError(f"unknown signal {entry['signal']!r}")
        self.entries[entry_id] = entry
        self.version += 1

    def remove(self, entry_id: str) -> None:
        if self.entries.pop(entry_id, None) is not None:
            self.pdq.remove(entry_id)
            self.audio.remove(entry_id)
            self.version += 1

    def __len__(self) -> int:
        return len(self.entries)

    def describe(self) -> str:
        return f"{len(self.pdq)} PDQ and {len(self.audio)} audio features (v{self.version})"


@dataclass(frozen=True, slots=True)
class MediaMatching:
    pdq_distance: int
    pdq_min_quality: int


def hash_findings(
    hashes: list[Record], library: MediaFeatureLibrary, matching: MediaMatching
) -> list[Finding]:
    """Each library entry is reported once, at its closest match."""
    best: dict[str, tuple[float, Finding]] = {}
    for taken in hashes:
        if taken["signal"] == PDQ:
            if taken["quality"] < matching.pdq_min_quality:
                continue  # flat frames hash to noise: matching them only makes false hits
            for hit in library.pdq.matches(PdqHash.from_hex(taken["value"]), matching.pdq_distance):
                what = f"PDQ distance {hit.distance} of 256"
                _keep(best, library, taken["source"], hit.entry_id, what, hit.distance)
        else:
            for match in library.audio.match(AudioFingerprint.decode(taken["value"])):
                what = (
                    f"fingerprint bit error rate {match.bit_error_rate:.2f} over "
                    f"{match.matched_s:.1f} s at {match.offset_s:.1f} s"
                )
                _keep(best, library, taken["source"], match.entry_id, what, match.bit_error_rate)
    return [finding for _, finding in best.values()]


def _keep(  # noqa: PLR0917 - one call per signal
    best: dict[str, tuple[float, Finding]],
    library: MediaFeatureLibrary,
    where: str,
    entry_id: str,
    what: str,
    distance: float,
) -> None:
    entry = library.entries[entry_id]
    if entry_id not in best or distance < best[entry_id][0]:
        finding = Finding(where, entry_id, what, entry["category"], Severity(entry["severity"]))
        best[entry_id] = (distance, finding)


def review_media(
    output: StageOutput,
    library: MediaFeatureLibrary,
    keywords: KeywordLibrary,
    matching: MediaMatching,
) -> StageOutput:
    """Decide a media artifact the workers found publishable; anything they already held or
    blocked stays as it is."""
    state = output.forward
    if state is None or output.compliance is None:
        return output
    findings = keyword_findings(state["envelope"], keywords)
    findings += hash_findings(state["media_hashes"], library, matching)
    searched = f"{library.describe()} and {keywords_searched(keywords)}"
    reviewed = decide(state, findings, "review.media", searched)
    reviewed.alerts[:0] = output.alerts
    reviewed.regulator[:0] = output.regulator
    reviewed.violations[:0] = output.violations
    return reviewed
