"""The complaints portal's pages (Art. 12), as HTML strings: the published process and the
filing form, a complaint's status, the reviewer console and a ticket. No Faust here.

Complaint texts, ids and reviewer notes are written by strangers: every dynamic value goes
through `esc` (or `href`), and the pages need no JavaScript, so the web layer can forbid it."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from synthguard.complaints.feedback import utc
from synthguard.complaints.policy import (
    APPEAL_CATEGORIES,
    ARTICLE_OF,
    MAX_ID_LENGTH,
    Category,
    ComplaintPolicy,
    ComplaintType,
    Status,
    describe_seconds,
)
from synthguard.records import Record

NONE = "—"
STATUS_REFRESH_S = 2
"""How often a status page reloads while the complaint is still being routed."""
EXCERPT_CHARS = 120

TYPE_ZH = {
    ComplaintType.APPEAL: "申诉",
    ComplaintType.COMPLAINT: "投诉",
    ComplaintType.REPORT: "举报",
}
CATEGORY_LABEL: Mapping[str, tuple[str, str]] = {
    Category.BLOCK: ("内容被拦截", "my content was blocked"),
    Category.USER_ACTION: ("账号处置", "a measure against my account"),
    Category.UNLABELED_AI: ("AI生成内容未标识", "AI content without its label"),
    Category.RUMOR: ("谣言", "a rumor"),
    Category.LIKENESS: ("未经同意使用人脸或声音", "face or voice used without consent"),
    Category.ILLEGAL_CONTENT: ("违法信息", "illegal content"),
}
STATUS_ZH = {
    Status.OPEN: "处理中",
    Status.REJECTED: "未受理",
    Status.DUPLICATE: "重复提交",
    Status.UPHELD: "成立",
    Status.DISMISSED: "不成立",
}
QUEUE_ZH = {
    "APPEALS": "申诉",
    "LABELING": "标识",
    "RUMORS": "辟谣",
    "LIKENESS": "肖像与声音",
    "ILLEGAL": "违法信息",
}
FORM_FIELDS = (
    "type",
    "category",
    "submitter_id",
    "artifact_id",
    "action_id",
    "subject_id",
    "text",
    "contact",
)

STYLE = """
body{font:15px/1.5 system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:0;color:#1d2530;
background:#f5f6f8}
header{background:#1d2b3a;color:#fff;padding:.7rem 1.5rem}header a{color:#fff;text-decoration:none}
header .en{color:#b9c6d6}button .en{color:#dce7f8}
main{max-width:62rem;margin:0 auto;padding:1.5rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:1rem 1.3rem;
margin-bottom:1.2rem}
h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:.2rem 0 .7rem}
.en{color:#5b6775;font-weight:normal}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;
border-bottom:1px solid #e6e9ed;vertical-align:top}th{background:#f0f2f5;font-weight:600}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=password],select,textarea{width:100%;box-sizing:border-box;
padding:.4rem;border:1px solid #b8c0ca;border-radius:4px;font:inherit}
textarea{min-height:8rem}.grid{display:grid;grid-template-columns:1fr 1fr;gap:0 1.2rem}
button{margin-top:.9rem;padding:.45rem 1.2rem;border:0;border-radius:4px;background:#1f5fbf;
color:#fff;font:inherit;cursor:pointer}button.dismiss{background:#6b7684}
.statement{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;
border-left:4px solid #b8c0ca;padding:.6rem .9rem;margin:0}
.badge{display:inline-block;white-space:nowrap;padding:.05rem .55rem;border-radius:999px;
font-weight:600;background:#e3e7ec}
.OPEN{background:#dbe8fb}.UPHELD{background:#d7f0dc}.DISMISSED{background:#ececec}
.REJECTED,.DUPLICATE{background:#fbe3d6}
.error{background:#fdecea;border-color:#f3b9b2;color:#8a1f11}
.notice{background:#eef5ff;border-color:#bcd4f6}
.overdue{color:#a3190b;font-weight:600}tr.overdue td{background:#fff1ef}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:#5b6775}
dd{margin:0}td.at{white-space:nowrap}.hint{color:#5b6775;font-size:.9rem}
"""


def esc(value: object) -> str:
    """Text for HTML content and quoted attributes; None shows as a dash."""
    return NONE if value is None else html.escape(str(value), quote=True)


def href(*parts: str) -> str:
    """A path from segments, each percent-encoded (ids are user input), then escaped."""
    return esc("/" + "/".join(quote(part, safe="") for part in parts) + "/")


def bi(zh: str, en: str) -> str:
    return f'{esc(zh)} <span class="en">{esc(en)}</span>'


def layout(title: str, body: str, *, refresh_s: int | None = None, console: bool = False) -> str:
    refresh = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    home = (
        '<a href="/console/">审核台 <span class="en">Reviewer console</span></a>'
        if console
        else '<a href="/">投诉举报 <span class="en">Appeals, complaints and reports</span></a>'
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"{refresh}<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><header>synthguard · {home}</header><main>{body}</main></body></html>"
    )


def _error(message: str | None) -> str:
    return f'<section class="error" id="error">{esc(message)}</section>' if message else ""


def _options(values: Sequence[tuple[str, str]], selected: str | None) -> str:
    return "".join(
        f'<option value="{esc(value)}"{" selected" if value == selected else ""}>'
        f"{esc(label)}</option>"
        for value, label in values
    )


def category_label(category: str) -> str:
    zh, en = CATEGORY_LABEL.get(category, (category, ""))
    return bi(zh, en) if en else esc(category)


def status_badge(status: str, element_id: str | None = None) -> str:
    zh = STATUS_ZH.get(Status(status), "") if status in Status.__members__ else ""
    attr = f' id="{esc(element_id)}"' if element_id else ""
    return f'<span class="badge {esc(status)}"{attr}>{esc(status)} {esc(zh)}</span>'


def span(ms: int) -> str:
    """A duration as people scan it: 6 d 23 h, 5 h 12 min, 3 min."""
    minutes = max(ms, 0) // 60_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min" if mins else "< 1 min"


def time_left(deadline_at: int, now: int) -> str:
    if now > deadline_at:
        return f'<span class="overdue">已超期 overdue by {span(now - deadline_at)}</span>'
    return f"剩余 {span(deadline_at - now)} left"


# --- public portal -----------------------------------------------------------------------


def portal(
    policy: ComplaintPolicy,
    *,
    error: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    """The published process (what Art. 12 requires us to publish), the filing form (kept
    filled in when it comes back with `error`) and the lookup by complaint id."""
    body = _error(error) + _process(policy) + _file_form(policy, form or {}) + _lookup_form()
    return layout("投诉举报 Appeals, complaints and reports", body)


PROCESS_STEPS = (
    (
        "受理：检查提交内容是否完整。",
        "Received: we check the submission is complete; an incomplete, repeated or too"
        " frequent one is refused with the reason.",
    ),
    (
        "分派：转交对应的处理团队，并告知答复期限。",
        "Routed to the team below, with the deadline for our answer.",
    ),
    (
        "处理：审核人员作出决定，并告知结果及其效果。",
        "Decided by a person: you are told the outcome and what it changed.",
    ),
)


def _process(policy: ComplaintPolicy) -> str:
    rows = "".join(
        f"<tr><td>{category_label(category)}<br><code>{esc(category)}</code></td>"
        f"<td>{esc('APPEAL' if category in APPEAL_CATEGORIES else 'COMPLAINT / REPORT')}</td>"
        f"<td>{esc(QUEUE_ZH.get(queue, ''))} <code>{esc(queue)}</code></td>"
        f"<td><strong>{esc(deadline)}</strong></td>"
        f"<td>{esc(ARTICLE_OF[Category(category)])}</td></tr>"
        for category, queue, deadline in policy.published()
    )
    head = "".join(
        f"<th>{bi(zh, en)}</th>"
        for zh, en in (
            ("类别", "Category"),
            ("提交方式", "File as"),
            ("处理团队", "Queue"),
            ("答复时限", "Response deadline"),
            ("依据", "Article"),
        )
    )
    steps = "".join(f"<li>{bi(zh, en)}</li>" for zh, en in PROCESS_STEPS)
    window = describe_seconds(policy.rate_window_s)
    limits = bi(
        f"每位提交人每 {window} 最多提交 {policy.rate_limit} 次；内容最多 {policy.max_chars} 字。",
        f"At most {policy.rate_limit} submissions per {window} per submitter, and"
        f" {policy.max_chars:,} characters of text.",
    )
    intro = bi(
        "依据《互联网信息服务深度合成管理规定》第十二条公布。",
        "Published as Art. 12 of the Deep Synthesis Provisions requires: we accept every"
        " submission at once, answer within the time limit below and tell you the outcome.",
    )
    return (
        f'<section id="process"><h1>{bi("投诉、举报和申诉的处理流程", "How we handle them")}'
        f"</h1><p>{intro}</p><ol>{steps}</ol>"
        f'<table id="published"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        f'<p class="hint">{limits}</p></section>'
    )


def _file_form(policy: ComplaintPolicy, form: Mapping[str, str]) -> str:
    types = [(t.value, f"{TYPE_ZH[t]} {t.value.title()}") for t in ComplaintType]
    categories = [(c.value, f"{CATEGORY_LABEL[c][0]} — {CATEGORY_LABEL[c][1]}") for c in Category]

    def select(name: str, zh: str, en: str, options: Sequence[tuple[str, str]]) -> str:
        return (
            f'<div><label for="{name}">{bi(zh, en)}</label><select id="{name}" name="{name}">'
            f"{_options(options, form.get(name))}</select></div>"
        )

    def text(name: str, zh: str, en: str, hint: str = "") -> str:
        return (
            f'<div><label for="{name}">{bi(zh, en)}</label>'
            f'<input type="text" id="{name}" name="{name}" maxlength="{MAX_ID_LENGTH}"'
            f' value="{esc(form.get(name, ""))}">'
            + (f'<div class="hint">{esc(hint)}</div>' if hint else "")
            + "</div>"
        )

    fields = (
        select("type", "类型", "Type", types)
        + select("category", "类别", "Category", categories)
        + text("submitter_id", "您的用户ID", "Your user id", "Appeals: the account concerned.")
        + text("artifact_id", "内容ID", "Artifact id", "Every category but USER_ACTION.")
        + text("action_id", "处置ID", "Action id", "USER_ACTION appeals: the measure.")
        + text("subject_id", "当事人ID", "Subject id", "LIKENESS: whose face or voice.")
    )
    statement = (
        f'<label for="text">{bi("情况说明", "What is wrong")}</label>'
        f'<textarea id="text" name="text" maxlength="{policy.max_chars}">'
        f"{esc(form.get('text', ''))}</textarea>"
    )
    return (
        f'<section id="file"><h2>{bi("提交", "File an appeal, complaint or report")}</h2>'
        f'<form method="post" action="/complaints/"><div class="grid">{fields}</div>{statement}'
        f"{text('contact', '联系方式（选填）', 'Contact (optional)')}"
        f'<button type="submit" id="submit">{bi("提交", "Submit")}</button></form></section>'
    )


def _lookup_form() -> str:
    return (
        f'<section id="lookup"><h2>{bi("查询处理进度", "Follow your complaint")}</h2>'
        '<form method="get" action="/complaints/">'
        f'<label for="complaint_id">{bi("投诉编号", "Complaint id")}</label>'
        f'<input type="text" id="complaint_id" name="complaint_id" maxlength="{MAX_ID_LENGTH}">'
        f'<button type="submit">{bi("查询", "Look up")}</button></form></section>'
    )


# --- a complaint's status ------------------------------------------------------------------


def _details(history: Sequence[Record], now: int, *, private: bool) -> str:
    """What the complaint is and where it stands. `private` (the console) adds who filed it
    and how to reach them, which the public status page leaves out."""
    latest = history[-1]
    complaint, status = latest["complaint"], latest["status"]
    # A decision's feedback carries no queue or deadline: those of the routing one stand.
    queue = next((f["queue"] for f in reversed(history) if f["queue"]), None)
    deadline = next((f["deadline_at"] for f in reversed(history) if f["deadline_at"]), None)
    if deadline is None:
        due = NONE
    else:
        due = f'<span id="deadline">{esc(utc(deadline))}</span> · '
        if status == Status.OPEN:
            due += time_left(deadline, now)
        elif latest["at"] > deadline:
            late = span(latest["at"] - deadline)
            due += f'<span class="overdue">答复超期 answered {late} late</span>'
        else:
            due += f"按时答复 answered {esc(utc(latest['at']))}"
    rows = [
        (bi("状态", "Status"), status_badge(status, "status")),
        (
            bi("类型", "Type"),
            f"{esc(TYPE_ZH.get(ComplaintType(complaint['type']), ''))} {esc(complaint['type'])}",
        ),
        (bi("类别", "Category"), f"{category_label(complaint['category'])}"),
        (
            bi("处理团队", "Queue"),
            NONE if queue is None else f"{esc(QUEUE_ZH.get(queue, ''))} {esc(queue)}",
        ),
        (bi("答复期限", "Deadline"), due),
        (bi("提交时间", "Submitted"), esc(utc(complaint["submitted_at"]))),
        (bi("内容ID", "Artifact"), esc(complaint["artifact_id"])),
    ]
    if complaint["action_id"] is not None:
        rows.append((bi("处置ID", "Action"), esc(complaint["action_id"])))
    if complaint["subject_id"] is not None:
        rows.append((bi("当事人ID", "Subject"), esc(complaint["subject_id"])))
    if private:
        rows.append((bi("提交人", "Submitter"), esc(complaint["submitter_id"])))
        rows.append((bi("联系方式", "Contact"), esc(complaint["contact"])))
    items = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return (
        f"<section><dl>{items}</dl></section>"
        f"<section><h2>{bi('陈述', 'Statement')}</h2>"
        f'<p class="statement" id="statement">{esc(complaint["text"])}</p></section>'
    )


def _history(history: Sequence[Record], *, base: tuple[str, ...]) -> str:
    """Every message, oldest first; a duplicate links to the complaint it repeats (under
    `base`: the public status pages or the console's tickets)."""
    rows = "".join(
        f'<tr><td class="at">{esc(utc(f["at"]))}</td><td>{status_badge(f["status"])}</td>'
        f"<td>{esc(f['message'])}"
        + (
            f' <a href="{href(*base, f["duplicate_of"])}">{esc(f["duplicate_of"])}</a>'
            if f["duplicate_of"]
            else ""
        )
        + "</td></tr>"
        for f in history
    )
    return (
        f'<section><h2>{bi("处理记录", "What we told you")}</h2><table id="history"><thead>'
        f"<tr><th>{bi('时间', 'At')}</th><th>{bi('状态', 'Status')}</th>"
        f"<th>{bi('说明', 'Message')}</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def status_page(complaint_id: str, history: Sequence[Record], now: int) -> str:
    """The complainant's view: where it stands, then every message we sent. Before
    the first message the page says it is being routed and reloads itself."""
    title = f"{bi('处理进度', 'Complaint')} <code>{esc(complaint_id)}</code>"
    if not history:
        received = bi(
            f"已收到，正在分派。本页每 {STATUS_REFRESH_S} 秒自动刷新。", "Received, being routed."
        )
        body = (
            f"<h1>{title}</h1>"
            f'<section class="notice" id="pending">{status_badge("RECEIVED", "status")} {received}'
            f'<p class="hint">This page reloads every {STATUS_REFRESH_S} s; keep the id to'
            " follow it later.</p></section>"
        )
        return layout("Complaint received", body, refresh_s=STATUS_REFRESH_S)
    latest = history[-1]
    body = (
        f"<h1>{title}</h1>{_details(history, now, private=False)}"
        f"{_history(history, base=('complaints',))}"
    )
    return layout(f"Complaint {complaint_id}: {latest['status']}", body)


def not_found_page(complaint_id: str) -> str:
    body = (
        f'<section class="error" id="error">{bi("没有这个编号的投诉。", "No complaint")}'
        f" <code>{esc(complaint_id)}</code> is on record: check the id.</section>"
    )
    return layout("Complaint not found", body)


# --- reviewer console ----------------------------------------------------------------------


def console_closed_page() -> str:
    body = (
        '<section class="error" id="error">console closed: set SYNTHGUARD_REVIEWER_TOKEN'
        " on the workers to open it.</section>"
    )
    return layout("Console closed", body, console=True)


def login_page(error: str | None = None) -> str:
    body = f"""{_error(error)}
<section id="login"><h1>{bi("审核台登录", "Reviewer console")}</h1>
<form method="post" action="/console/login/">
<label for="token">{bi("审核口令", "Reviewer token")}</label>
<input type="password" id="token" name="token" autocomplete="current-password">
<button type="submit" id="login-submit">{bi("登录", "Log in")}</button></form></section>"""
    return layout("Reviewer console: log in", body, console=True)


def console_page(open_by_queue: Mapping[str, Sequence[Record]], now: int) -> str:
    """Open tickets per queue, the earliest deadline first (as the board sorts them)."""
    sections = []
    for queue, tickets in open_by_queue.items():
        rows = "".join(_ticket_row(ticket, now) for ticket in tickets)
        sections.append(
            f'<section id="queue-{esc(queue)}"><h2>{esc(QUEUE_ZH.get(queue, ""))} {esc(queue)}'
            f' <span class="en">({len(tickets)} open)</span></h2><table><thead><tr>'
            f"<th>{bi('答复期限', 'Deadline')}</th><th>{bi('剩余', 'Time left')}</th>"
            f"<th>{bi('类别', 'Category')}</th><th>{bi('对象', 'About')}</th>"
            f"<th>{bi('陈述', 'Statement')}</th></tr></thead><tbody>{rows}</tbody>"
            "</table></section>"
        )
    if not sections:
        sections.append(
            f'<section class="notice" id="empty">{bi("没有待处理的工单。", "No open tickets.")}'
            "</section>"
        )
    body = f"<h1>{bi('待处理工单', 'Open tickets')}</h1>" + "".join(sections)
    return layout("Reviewer console", body, console=True)


def _ticket_row(latest: Record, now: int) -> str:
    complaint, deadline = latest["complaint"], latest["deadline_at"]
    overdue = deadline is not None and now > deadline
    text = complaint["text"]
    excerpt = text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"
    about = complaint["artifact_id"] or complaint["action_id"]
    link = href("console", "complaints", complaint["complaint_id"])
    return (
        f'<tr class="{"overdue" if overdue else "due"}">'
        f'<td><a href="{link}">{esc(NONE if deadline is None else utc(deadline))}</a></td>'
        f"<td>{NONE if deadline is None else time_left(deadline, now)}</td>"
        f"<td>{esc(complaint['type'])} / {esc(complaint['category'])}</td>"
        f"<td><code>{esc(about)}</code></td>"
        f'<td><a href="{link}">{esc(excerpt)}</a></td></tr>'
    )


def ticket_page(
    history: Sequence[Record],
    audit: Sequence[Record] | None,
    now: int,
    *,
    error: str | None = None,
    sent: str | None = None,
    audit_error: str | None = None,
) -> str:
    """A ticket for its reviewer: the complaint, what its complainant was told, the
    artifact's audit trail, and the decision form while it is open. `sent`: a decision just
    sent, not yet applied (the page reloads until it is)."""
    latest = history[-1]
    complaint = latest["complaint"]
    cid = complaint["complaint_id"]
    pending = sent is not None and latest["status"] == Status.OPEN
    notice = (
        f'<section class="notice" id="sent">{bi("已提交决定", "Decision sent:")} {esc(sent)}.'
        " It shows here once the worker that owns the ticket has applied it.</section>"
        if pending
        else ""
    )
    body = (
        f"<h1>{bi('工单', 'Ticket')} <code>{esc(cid)}</code></h1>{_error(error)}{notice}"
        f"{_details(history, now, private=True)}"
        f"{_history(history, base=('console', 'complaints'))}"
        f"{_audit(complaint['artifact_id'], audit, audit_error)}"
        f"{_decide_form(latest) if latest['status'] == Status.OPEN else ''}"
    )
    return layout(
        f"Ticket {cid}", body, console=True, refresh_s=STATUS_REFRESH_S if pending else None
    )


def _audit(artifact_id: str | None, audit: Sequence[Record] | None, error: str | None) -> str:
    if artifact_id is None:
        return ""
    title = f"<h2>{bi('内容审计记录', 'Audit trail of')} <code>{esc(artifact_id)}</code></h2>"
    if error is not None:
        return f'<section class="error" id="audit">{title}{esc(error)}</section>'
    if not audit:
        return f'<section id="audit">{title}<p>No audit records for this artifact.</p></section>'
    rows = "".join(
        f'<tr><td class="at">{esc(utc(r["at"]))}</td><td>{esc(r["event"])}</td>'
        f"<td>{esc(r['stage'])}</td>"
        f"<td>{esc(r['article'])}</td><td>{esc(r['summary'])}</td></tr>"
        for r in audit
    )
    return (
        f'<section id="audit">{title}<table><thead><tr><th>{bi("时间", "At")}</th>'
        f"<th>{bi('事件', 'Event')}</th><th>{bi('环节', 'Stage')}</th>"
        f"<th>{bi('条款', 'Article')}</th><th>{bi('摘要', 'Summary')}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def _decide_form(latest: Record) -> str:
    complaint = latest["complaint"]
    refutation = ""
    if complaint["category"] == Category.RUMOR:
        fields = (
            ("claim", "谣言内容", "Claim"),
            ("refutation", "辟谣内容", "Refutation"),
            ("link", "辟谣链接", "Link (https://...)"),
            ("authority", "辟谣机构", "Authority"),
        )
        inputs = "".join(
            f'<label for="{name}">{bi(zh, en)}</label>'
            f'<input type="text" id="{name}" name="{name}" maxlength="2000">'
            for name, zh, en in fields
        )
        refutation = (
            f"<fieldset><legend>{bi('辟谣信息（认定成立时必填）', 'Refutation')}</legend>"
            '<p class="hint">Needed to uphold: the claim goes into the refuted-rumor database'
            f" and copies are held with this refutation (Art. 11).</p>{inputs}</fieldset>"
        )
    action = href("console", "complaints", complaint["complaint_id"], "decide")
    return f"""
<section id="decide"><h2>{bi("作出决定", "Decide")}</h2>
<form method="post" action="{action}">
<label for="reviewer">{bi("审核人", "Reviewer")}</label>
<input type="text" id="reviewer" name="reviewer" maxlength="128">
<label for="note">{bi("告知投诉人的说明", "Note to the complainant")}</label>
<textarea id="note" name="note" maxlength="2000"></textarea>{refutation}
<button type="submit" name="decision" value="UPHELD" id="uphold">{bi("成立", "Uphold")}</button>
<button type="submit" name="decision" value="DISMISSED" id="dismiss" class="dismiss">
{bi("不成立", "Dismiss")}</button>
</form></section>"""
