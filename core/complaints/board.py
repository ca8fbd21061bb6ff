"""The complaints board every worker's web pages read: the latest feedback per complaint
(its status), fed from complaints.feedback. A complaint is on one worker's partitions, a
browser may ask any worker: each keeps the whole board, as with the registries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from synthguard.complaints.policy import Status
from synthguard.records import Record

HISTORY = 32


@dataclass(slots=True)
class ComplaintBoard:
    latest: dict[str, Record] = field(default_factory=dict)
    """complaint_id -> its latest ComplaintFeedback."""
    history: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    """complaint_id -> every feedback, oldest first (at most HISTORY)."""

    def apply(self, key: str, value: Record | None) -> None:
        if value is None:
            return  # feedback is never deleted; a tombstone here is noise
        cid = value["complaint"]["complaint_id"]
        seen = self.history[cid]
        if any(f["feedback_id"] == value["feedback_id"] for f in seen):
            return  # redelivered
        seen.append(value)
        seen.sort(key=lambda f: f["at"])
        del seen[:-HISTORY]
        self.latest[cid] = seen[-1]

    def get(self, complaint_id: str) -> Record | None:
        return self.latest.get(complaint_id)

    def open_by_queue(self) -> dict[str, list[Record]]:
        """queue -> open complaints' latest feedback, the earliest deadline first."""
        queues: dict[str, list[Record]] = defaultdict(list)
        for record in self.latest.values():
            if record["status"] == Status.OPEN:
                queues[record["queue"]].append(record)
        for tickets in queues.values():
            tickets.sort(key=lambda f: f["deadline_at"])
        return dict(sorted(queues.items()))

    def __len__(self) -> int:
        return len(self.latest)
