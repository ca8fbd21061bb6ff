"""The portal's pages as strings (Art. 12): strangers' text shown as text, deadlines and
overdue tickets, the published process, the console's login."""

from __future__ import annotations

from typing import Any

import pytest

from synthguard.complaints import pages
from synthguard.complaints.feedback import feedback, utc
from synthguard.complaints.policy import (
    DEFAULT_DEADLINES,
    Category,
    ComplaintPolicy,
    Status,
    parse_deadlines,
)
from synthguard.records import Record

HOUR = 3600 * 1000
NOW = 1_800_000_000_000
POLICY = ComplaintPolicy(parse_deadlines(DEFAULT_DEADLINES))
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


def complaint(**fields: Any) -> Record:
    record: Record = {
        "complaint_id": "complaint-1",
        "type": "APPEAL",
        "category": "BLOCK",
        "submitter_id": "u-1",
        "artifact_id": "t-1",
        "action_id": None,
        "subject_id": None,
        "text": "请复核 please review",
        "contact": "ann@example.org",
        "submitted_at": NOW - 2 * HOUR,
    }
    return record | fields


def opened(record: Record, deadline_at: int) -> Record:
    return feedback(record, Status.OPEN, "routed", queue="APPEALS", deadline_at=deadline_at) | {
        "at": NOW - HOUR
    }


def test_hostile_text_is_shown_as_text_on_every_page() -> None:
    hostile = complaint(
        complaint_id='c-"><script>x</script>',
        text=HOSTILE,
        artifact_id='t-"><img src=x>',
        contact=HOSTILE,
    )
    told = feedback(hostile, Status.DISMISSED, f"dismissed by <b>rev</b>: {HOSTILE}")
    history = [opened(hostile, NOW + HOUR), told]
    audit = [
        {
            "at": NOW,
            "event": "VERDICT",
            "stage": "<stage>",
            "article": "Art. 9",
            "summary": HOSTILE,
        }
    ]
    rendered = [
        pages.status_page(hostile["complaint_id"], history, NOW),
        pages.ticket_page(history[:1], audit, NOW, error=HOSTILE, sent="<UPHELD>"),
        pages.console_page({"APPEALS": history[:1]}, NOW),
        pages.portal(POLICY, error=HOSTILE, form={"text": HOSTILE, "submitter_id": '"><x>'}),
        pages.not_found_page(hostile["complaint_id"]),
    ]
    for page in rendered:
        assert "<script" not in page
        assert "<img" not in page
        assert "<b>" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in rendered[0]
    assert "onerror=&quot;window.__pwned=2&quot;" in rendered[0]
    # the id in links is percent-encoded, the one in text escaped
    assert 'href="/console/complaints/c-%22%3E%3Cscript%3Ex%3C%2Fscript%3E/"' in rendered[2]


def test_the_public_status_page_keeps_the_contact_private() -> None:
    history = [opened(complaint(), NOW + HOUR)]
    assert "ann@example.org" not in pages.status_page("complaint-1", history, NOW)
    assert "ann@example.org" in pages.ticket_page(history, [], NOW)


def test_an_open_complaint_shows_its_deadline_and_time_left() -> None:
    page = pages.status_page("complaint-1", [opened(complaint(), NOW + 50 * HOUR)], NOW)
    assert f'<span id="deadline">{utc(NOW + 50 * HOUR)}</span>' in page
    assert "剩余 2 d 2 h left" in page
    assert "overdue" not in page.replace(".overdue", "")
    assert 'http-equiv="refresh"' not in page


def test_an_overdue_complaint_is_flagged_on_its_page_and_in_the_console() -> None:
    late, due = opened(complaint(), NOW - 3 * HOUR), opened(complaint(), NOW + HOUR)
    page = pages.status_page("complaint-1", [late], NOW)
    assert '<span class="overdue">已超期 overdue by 3 h 0 min</span>' in page
    console = pages.console_page({"APPEALS": [late, due]}, NOW)
    assert console.count('<tr class="overdue">') == 1
    assert console.count('<tr class="due">') == 1
    assert console.index("overdue by 3 h") < console.index("1 h 0 min left")


def test_a_decided_complaint_says_whether_it_was_answered_in_time() -> None:
    record = complaint()
    upheld = feedback(record, Status.UPHELD, "upheld by rev-ann: the block is lifted.")
    late = pages.status_page("complaint-1", [opened(record, NOW - HOUR), upheld | {"at": NOW}], NOW)
    assert 'id="status">UPHELD' in late
    assert f'<span id="deadline">{utc(NOW - HOUR)}</span>' in late  # from the routing feedback
    assert "APPEALS" in late
    assert "answered 1 h 0 min late" in late
    assert "overdue by" not in late
    assert "upheld by rev-ann: the block is lifted." in late
    on_time = [opened(record, NOW + HOUR), upheld | {"at": NOW}]
    assert f"按时答复 answered {utc(NOW)}" in pages.status_page("complaint-1", on_time, NOW)


def test_before_its_first_feedback_the_status_page_waits_and_reloads() -> None:
    page = pages.status_page("complaint-1", [], NOW)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "being routed" in page


@pytest.mark.parametrize("category", list(Category))
def test_the_published_process_lists_every_category_with_its_deadline(category: Category) -> None:
    page = pages.portal(POLICY)
    table = page[page.index('<table id="published">') : page.index("</table>")]
    [row] = [r for r in table.split("<tr>") if f"<code>{category.value}</code>" in r]
    deadline = dict((c, d) for c, _, d in POLICY.published())[category.value]
    assert f"<strong>{deadline}</strong>" in row
    assert "Art. 12" in page


def test_the_form_comes_back_filled_in_with_the_reason() -> None:
    form = {"type": "COMPLAINT", "category": "RUMOR", "artifact_id": "t-9", "text": "谣言"}
    page = pages.portal(POLICY, error="a COMPLAINT needs ...", form=form)
    assert '<section class="error" id="error">a COMPLAINT needs ...</section>' in page
    assert '<option value="RUMOR" selected>' in page
    assert 'name="artifact_id" maxlength="128" value="t-9"' in page
    assert ">谣言</textarea>" in page


def test_without_the_cookie_the_console_asks_for_the_token() -> None:
    page = pages.login_page()
    assert '<form method="post" action="/console/login/">' in page
    assert '<input type="password" id="token" name="token"' in page
    assert "wrong reviewer token" in pages.login_page("wrong reviewer token")
    assert "SYNTHGUARD_REVIEWER_TOKEN" in pages.console_closed_page()


def test_only_an_open_rumor_ticket_asks_for_the_refutation() -> None:
    rumor = opened(complaint(type="REPORT", category="RUMOR"), NOW + HOUR)
    page = pages.ticket_page([rumor], [], NOW)
    assert 'name="decision" value="UPHELD"' in page
    assert all(f'name="{n}"' in page for n in ("claim", "refutation", "link", "authority"))
    appeal = opened(complaint(), NOW + HOUR)
    assert 'name="claim"' not in pages.ticket_page([appeal], [], NOW)
    dismissed = feedback(rumor["complaint"], Status.DISMISSED, "dismissed")
    assert 'name="decision"' not in pages.ticket_page([rumor, dismissed], [], NOW)


def test_a_ticket_shows_the_audit_trail_or_why_it_is_missing() -> None:
    history = [opened(complaint(), NOW + HOUR)]
    audit = [
        {"at": NOW, "event": "VERDICT", "stage": "review", "article": None, "summary": "BLOCKED"}
    ]
    page = pages.ticket_page(history, audit, NOW)
    assert "<td>VERDICT</td><td>review</td><td>—</td><td>BLOCKED</td>" in page
    failed = pages.ticket_page(history, None, NOW, audit_error="audit history unavailable: x")
    assert "audit history unavailable: x" in failed
    no_artifact = complaint(category="USER_ACTION", artifact_id=None, action_id="a-1")
    assert 'id="audit"' not in pages.ticket_page([opened(no_artifact, NOW + HOUR)], None, NOW)
