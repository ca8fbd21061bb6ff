"""The complaints portal and the reviewer console (Art. 12), served by every worker's Faust
web server (aiohttp underneath: views get aiohttp requests).

Pages read the worker's complaint board (every worker reads all of complaints.feedback), so
any worker answers for any complaint. Filing and deciding only emit records: the agents
check, route and apply them (rate limits, duplicates and targets are decided there, and
come back as feedback on the status page)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote

import faust
from aiohttp import web as aio
from faust.web import Response, View

from synthguard.complaints import pages
from synthguard.complaints.board import ComplaintBoard
from synthguard.complaints.policy import (
    MAX_ID_LENGTH,
    Category,
    ComplaintType,
    Rejected,
    Status,
    target_of,
    validate,
)
from synthguard.records import Record, new_id, now_ms
from synthguard.streams import catalog
from synthguard.streams.audit import artifact_history
from synthguard.streams.context import Context

log = logging.getLogger(__name__)

COOKIE = "synthguard_reviewer"
HEADERS: Mapping[str, str] = {
    # The pages use no script and no outside resource: a text that slipped past escaping
    # could still not run, nor the pages be framed (click-jacking the decide buttons).
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # complaint texts and contacts are personal: never kept by a browser or proxy cache
    "Cache-Control": "no-store",
}
OPTIONAL_IDS = ("artifact_id", "action_id", "subject_id")
MAX_CONTACT_CHARS = 256
MAX_NOTE_CHARS = 2000
REFUTATION_FIELDS = ("claim", "refutation", "link", "authority")
DECISIONS = ("UPHELD", "DISMISSED")
FEEDBACK_FIELDS = ("status", "message", "queue", "deadline_at", "reviewer", "duplicate_of", "at")


def complaint_from(fields: Mapping[str, Any], max_chars: int, now: int) -> Record:
    """A Complaint record from a form or a JSON object; Rejected with the message its
    submitter sees when it cannot be one. Blank optional fields become None."""

    def text(name: str) -> str:
        value = fields.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise Rejected(f"{name} must be a string")
        return value.replace("\r\n", "\n")  # browsers send textarea lines with CRLF

    kind, category = text("type").strip(), text("category").strip()
    if kind not in ComplaintType.__members__:
        raise Rejected(f"type must be one of {', '.join(ComplaintType)}")
    if category not in Category.__members__:
        raise Rejected(f"category must be one of {', '.join(Category)}")
    record: Record = {
        "complaint_id": new_id("complaint"),
        "type": kind,
        "category": category,
        "submitter_id": text("submitter_id").strip(),
        **{name: text(name).strip() or None for name in OPTIONAL_IDS},
        "text": text("text"),
        "contact": text("contact").strip() or None,
        "submitted_at": now,
    }
    # validate() bounds only the ids a category needs; the others reach the topic too
    for name in OPTIONAL_IDS:
        if record[name] is not None and len(record[name]) > MAX_ID_LENGTH:
            raise Rejected(f"{name} is over {MAX_ID_LENGTH} characters")
    if record["contact"] is not None and len(record["contact"]) > MAX_CONTACT_CHARS:
        raise Rejected(f"contact is over {MAX_CONTACT_CHARS} characters")
    validate(record, max_chars)
    return record


def outcome_from(fields: Mapping[str, str], latest: Record, now: int) -> Record:
    """A ComplaintOutcome from the decide form; Rejected with what the reviewer must fix."""
    complaint = latest["complaint"]
    decision = fields.get("decision", "")
    if decision not in DECISIONS:
        raise Rejected(f"decision must be one of {', '.join(DECISIONS)}")
    reviewer = fields.get("reviewer", "").strip()
    if not reviewer or len(reviewer) > MAX_ID_LENGTH:
        raise Rejected(f"reviewer: your name, 1-{MAX_ID_LENGTH} characters")
    note = fields.get("note", "").replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise Rejected(f"the note is over {MAX_NOTE_CHARS:,} characters")
    refutation = None
    # An upheld rumor complaint feeds the refuted-rumor database (Art. 11): the tracker
    # cannot apply one without its refutation, so the form must not send one.
    if decision == "UPHELD" and complaint["category"] == Category.RUMOR:
        refutation = {name: fields.get(name, "").strip() for name in REFUTATION_FIELDS}
        if missing := [name for name, value in refutation.items() if not value]:
            raise Rejected(
                f"upholding a RUMOR complaint needs the refutation: {', '.join(missing)}"
            )
        if not refutation["link"].startswith(("https://", "http://")):
            raise Rejected("the refutation link must be an http(s) address")
    return {
        "complaint_id": complaint["complaint_id"],
        "target": target_of(complaint),
        "decision": decision,
        "reviewer": reviewer,
        "note": note,
        "refutation": refutation,
        "decided_at": now,
    }


def strings(data: Mapping[str, Any]) -> dict[str, str]:
    """Form fields as strings (a file upload where text belongs counts as blank)."""
    return {name: value if isinstance(value, str) else "" for name, value in data.items()}


def public_status(complaint_id: str, history: list[Record]) -> Record:
    """The status page as JSON: what the complainant was told, without the filed complaint
    (its contact is for reviewers only; its submitter has it)."""
    told = [{name: f[name] for name in FEEDBACK_FIELDS} for f in history]
    return {"complaint_id": complaint_id, **told[-1], "history": told}


def status_path(complaint_id: str) -> str:
    return f"/complaints/{quote(complaint_id, safe='')}/"


def ticket_path(complaint_id: str) -> str:
    return f"/console/complaints/{quote(complaint_id, safe='')}/"


def html(view: View, body: str, status: int = 200) -> Response:
    return view.html(body, status=status, headers=dict(HEADERS))


def redirect(view: View, location: str) -> Response:
    """303 See Other: the browser GETs `location` (post/redirect/get: no re-post on reload)."""
    return view.html("", status=303, headers={**HEADERS, "Location": location})


def reviewer_cookie(response: Response, token: str | None) -> Response:
    """Set (or with None, clear) the console's cookie. HttpOnly: no script reads it; Strict:
    no other site's form can post a decision with it; Secure comes from the TLS proxy."""
    raw = cast(aio.Response, response)  # what the aiohttp driver builds
    if token is None:
        raw.del_cookie(COOKIE, path="/console/")
    else:
        raw.set_cookie(COOKIE, token, path="/console/", httponly=True, samesite="Strict")
    return response


def register(app: faust.App, ctx: Context, board: ComplaintBoard, bootstrap: str) -> None:
    """The portal (/, /complaints/...) and the console (/console/...) on `app`'s web server."""
    settings = ctx.settings
    policy = settings.complaint_policy()

    def is_reviewer(request: aio.Request) -> bool:
        token = settings.reviewer_token
        given = request.cookies.get(COOKIE, "")
        return bool(token) and hmac.compare_digest(given.encode(), token.encode())

    def refused(view: View, request: aio.Request) -> Response | None:
        """The answer for a request the console must not serve, or None to serve it."""
        if not settings.reviewer_token:
            return html(view, pages.console_closed_page(), 403)
        if not is_reviewer(request):
            return html(view, pages.login_page(), 401)
        return None

    async def audit_of(artifact_id: str) -> tuple[list[Record] | None, str | None]:
        """(the artifact's audit records, or the error that kept us from reading them)."""
        try:
            return await asyncio.to_thread(artifact_history, settings, bootstrap, artifact_id), None
        except Exception as exc:  # the rest of the ticket is still worth showing
            log.exception("audit history of %s", artifact_id)
            return None, f"audit history unavailable: {type(exc).__name__}: {exc}"

    async def ticket(
        view: View,
        complaint_id: str,
        *,
        status: int = 200,
        error: str | None = None,
        sent: str | None = None,
    ) -> Response:
        history = board.history.get(complaint_id, [])
        if not history:
            return html(view, pages.not_found_page(complaint_id), 404)
        artifact_id = history[-1]["complaint"]["artifact_id"]
        audit, audit_error = (None, None) if artifact_id is None else await audit_of(artifact_id)
        body = pages.ticket_page(
            history, audit, now_ms(), error=error, sent=sent, audit_error=audit_error
        )
        return html(view, body, status)

    @app.page("/")
    class Portal(View):
        async def get(self, request: aio.Request) -> Response:
            return html(self, pages.portal(policy))

    @app.page("/complaints/")
    class Complaints(View):
        async def get(self, request: aio.Request) -> Response:
            """The lookup form: to the complaint's status page."""
            complaint_id = request.query.get("complaint_id", "").strip()
            return redirect(self, status_path(complaint_id) if complaint_id else "/")

        async def post(self, request: aio.Request) -> Response:
            if request.content_type == "application/json":
                return await self.file_json(request)
            form = strings(await request.post())
            try:
                record = complaint_from(form, settings.complaint_max_chars, now_ms())
            except Rejected as exc:
                return html(self, pages.portal(policy, error=str(exc), form=form), 400)
            await ctx.emit(catalog.COMPLAINTS_SUBMITTED, record)
            # `filed`: the status page waits for the first feedback instead of answering 404
            return redirect(self, status_path(record["complaint_id"]) + "?filed=1")

        async def file_json(self, request: aio.Request) -> Response:
            """Platforms file programmatically: 202 and where to follow it."""
            try:
                data = await request.json()
            except ValueError:
                return self.json({"error": "the body is not JSON"}, status=400)
            if not isinstance(data, dict):
                return self.json({"error": "the body must be a JSON object"}, status=400)
            try:
                record = complaint_from(data, settings.complaint_max_chars, now_ms())
            except Rejected as exc:
                return self.json({"error": str(exc)}, status=400)
            await ctx.emit(catalog.COMPLAINTS_SUBMITTED, record)
            cid = record["complaint_id"]
            return self.json({"complaint_id": cid, "status_url": status_path(cid)}, status=202)

    @app.page("/complaints/{complaint_id}/")
    class ComplaintStatus(View):
        async def get(self, request: aio.Request, complaint_id: str) -> Response:
            history = board.history.get(complaint_id, [])
            if "application/json" in request.headers.get("Accept", ""):
                if not history:
                    message = f"no complaint {complaint_id} on record (yet, if just filed)"
                    return self.json({"error": message}, status=404)
                return self.json(public_status(complaint_id, history))
            if not history and "filed" not in request.query:
                return html(self, pages.not_found_page(complaint_id), 404)
            return html(self, pages.status_page(complaint_id, history, now_ms()))

    @app.page("/console/")
    class Console(View):
        async def get(self, request: aio.Request) -> Response:
            if (answer := refused(self, request)) is not None:
                return answer
            return html(self, pages.console_page(board.open_by_queue(), now_ms()))

    @app.page("/console/login/")
    class Login(View):
        async def get(self, request: aio.Request) -> Response:
            return redirect(self, "/console/")

        async def post(self, request: aio.Request) -> Response:
            token = settings.reviewer_token
            if not token:
                return html(self, pages.console_closed_page(), 403)
            given = strings(await request.post()).get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return html(self, pages.login_page("wrong reviewer token"), 401)
            return reviewer_cookie(redirect(self, "/console/"), token)

    @app.page("/console/logout/")
    class Logout(View):
        async def post(self, request: aio.Request) -> Response:
            return reviewer_cookie(redirect(self, "/console/"), None)

    @app.page("/console/complaints/{complaint_id}/")
    class Ticket(View):
        async def get(self, request: aio.Request, complaint_id: str) -> Response:
            if (answer := refused(self, request)) is not None:
                return answer
            sent = request.query.get("sent")
            return await ticket(self, complaint_id, sent=sent if sent in DECISIONS else None)

    @app.page("/console/complaints/{complaint_id}/decide/")
    class Decide(View):
        async def post(self, request: aio.Request, complaint_id: str) -> Response:
            if (answer := refused(self, request)) is not None:
                return answer
            latest = board.get(complaint_id)
            if latest is None:
                return html(self, pages.not_found_page(complaint_id), 404)
            if latest["status"] != Status.OPEN:
                error = f"complaint {complaint_id} is {latest['status']}: nothing to decide"
                return await ticket(self, complaint_id, status=409, error=error)
            try:
                outcome = outcome_from(strings(await request.post()), latest, now_ms())
            except Rejected as exc:
                return await ticket(self, complaint_id, status=400, error=str(exc))
            await ctx.emit(catalog.COMPLAINTS_OUTCOMES, outcome)
            return redirect(self, f"{ticket_path(complaint_id)}?sent={outcome['decision']}")
