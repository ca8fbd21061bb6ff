"""Appeals, complaints and reports (Art. 12) in two hops.

route_complaint (complaints.submitted, keyed by submitter): shape rules, duplicates and the
rate limit, with the submitter's state in a table; an accepted complaint becomes a ticket
with its queue and published deadline, re-keyed by target on complaints.accepted.

track_complaint (complaints.accepted, keyed by target: the artifact, or the appellant for a
user action): checks the target against what this worker owns for it (the artifact's final
entry, the user's measures), opens the ticket in the `complaint_tickets` table and puts it on
its team's queue topic. decide_complaint applies reviewers' outcomes (complaints.outcomes,
same key) and complaint_deadline the timer's ticks (complaints.timers, same key), so one
worker owns a ticket, its target's state and every effect on them. The complainant hears of
each step on complaints.feedback.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from synthguard.audit import action_event, complaint_decision_event
from synthguard.complaints.intake import admit, new_submitter
from synthguard.complaints.policy import Category
from synthguard.complaints.tracker import (
    STAGE,
    Decision,
    decide,
    due_ticks,
    expired,
    open_ticket,
    revoked_consents,
    tick,
)
from synthguard.errors import ValidationError
from synthguard.records import Record, now_ms
from synthguard.streams.audit import partition_for
from synthguard.streams.catalog import (
    ARTIFACTS_SUBMITTED,
    AUDIT_LOG,
    COMPLAINT_QUEUES,
    COMPLAINTS_ACCEPTED,
    COMPLAINTS_FEEDBACK,
    COMPLAINTS_OUTCOMES,
    COMPLAINTS_SUBMITTED,
    COMPLAINTS_TIMERS,
    REGISTRY_CONSENTS,
    REGISTRY_RUMORS,
    REPORTS_ALERTS,
    USERS_ACTIONS,
    TopicSpec,
)
from synthguard.streams.context import Context
from synthguard.streams.registry import RegistryReader
from synthguard.users import lift_action, new_user_state

log = logging.getLogger(__name__)


class Complaints:
    def __init__(self, ctx: Context, registries: RegistryReader) -> None:
        self.ctx, self.registries = ctx, registries
        s = ctx.settings
        self.policy = s.complaint_policy()
        self.submitters = ctx.app.Table("complaint_submitters", partitions=s.partitions)
        # complaint_id -> {ticket, warned, breached, decided, decided_at}; decided ones stay
        # for complaint_ticket_retention_s, so a redelivered ticket or outcome is recognised.
        self.tickets = ctx.app.Table("complaint_tickets", partitions=s.partitions)
        self.ticks_sent: set[tuple[str, str]] = set()  # by this worker's timer, not yet applied

    async def route(self, complaint: Record) -> None:
        submitter = complaint["submitter_id"]
        state = self.submitters.get(submitter) or new_submitter()
        admission = admit(state, complaint, self.policy, now_ms())
        self.submitters[submitter] = admission.state
        if admission.ticket is not None:
            await self.ctx.emit(COMPLAINTS_ACCEPTED, admission.ticket)
        if admission.feedback is not None:
            await self.ctx.emit(COMPLAINTS_FEEDBACK, admission.feedback)

    async def track(self, ticket: Record) -> None:
        cid, target = ticket["complaint"]["complaint_id"], ticket["target"]
        if cid in self.tickets:
            return  # redelivered
        about_user = ticket["complaint"]["category"] == Category.USER_ACTION
        final = None if about_user else self.ctx.final(target)
        user = self.ctx.strikes.get(target) if about_user else None
        state, feedback = open_ticket(ticket, final, user)
        if state is not None:
            self.tickets[cid] = state
            await self.ctx.emit(COMPLAINT_QUEUES[ticket["queue"]], ticket)
        await self.ctx.emit(COMPLAINTS_FEEDBACK, feedback)

    async def decide(self, outcome: Record) -> None:
        ctx = self.ctx
        cid, target = outcome["complaint_id"], outcome["target"]
        state = self.tickets.get(cid)
        if state is None or state["ticket"]["target"] != target:
            raise ValidationError(f"no open complaint {cid} about {target}")
        if state["decided"] is not None:
            log.info("complaint %s already decided (%s); outcome dropped", cid, state["decided"])
            return
        complaint = state["ticket"]["complaint"]
        about_user = complaint["category"] == Category.USER_ACTION
        lock = contextlib.nullcontext() if about_user else ctx.exclusive(target)
        async with lock:
            final = None if about_user else ctx.final(target)
            decision = decide(state, outcome, final)
            if decision.lift is not None:
                reason = f"appeal {cid} upheld by {outcome['reviewer']}"
                await self.lift(target, decision.lift, reason)
            if decision.rumor is not None:
                await ctx.emit(REGISTRY_RUMORS, decision.rumor)
            if final is not None:
                await self.apply_to_artifact(target, final, decision)
        await ctx.emit(AUDIT_LOG, complaint_decision_event(complaint, outcome))
        await ctx.emit(COMPLAINTS_FEEDBACK, decision.feedback)
        self.tickets[cid] = {**state, "decided": outcome["decision"], "decided_at": now_ms()}

    async def apply_to_artifact(self, artifact_id: str, final: Record, decision: Decision) -> None:
        ctx, envelope = self.ctx, final["envelope"]
        if decision.revoke_subject is not None:
            consents = self.registries.gates.consents
            subject, user_id = decision.revoke_subject, envelope["user_id"]
            for entry in revoked_consents(consents, subject, user_id, now_ms()):
                await ctx.emit(REGISTRY_CONSENTS, entry)
        if decision.reopen is not None:
            ctx.finalized[artifact_id] = {**final, "reopened": decision.reopen}
        if decision.resubmit is not None:
            await ctx.emit(ARTIFACTS_SUBMITTED, decision.resubmit)
        if decision.block is not None:
            await ctx.route(decision.block, None, STAGE, envelope)

    async def lift(self, user_id: str, action_id: str, reason: str) -> None:
        ctx = self.ctx
        user = ctx.strikes.get(user_id) or new_user_state()
        state, action = lift_action(user, user_id, action_id, reason, ctx.settings.user_ladder)
        ctx.strikes[user_id] = state
        if action is not None:
            await ctx.emit(USERS_ACTIONS, action)
            await ctx.emit(AUDIT_LOG, action_event(action))

    async def deadline(self, deadline: Record) -> None:
        cid, kind = deadline["complaint_id"], deadline["kind"]
        self.ticks_sent.discard((cid, kind))
        state = self.tickets.get(cid)
        if state is None:
            return  # expired and deleted already
        if kind == "EXPIRED":
            if expired(state, now_ms(), self.policy.ticket_retention_s):
                del self.tickets[cid]
            return
        state, alert = tick(state, kind, now_ms())
        if alert is not None:
            self.tickets[cid] = state
            await self.ctx.emit(REPORTS_ALERTS, alert)

    async def send_due_ticks(self) -> None:
        """Each worker looks at the tickets of the partitions it owns (a table also holds
        standby copies of others) and sends a tick for each one that fell due; the agent
        applies it, so the table keeps one writer."""
        partitions = list(range(self.ctx.settings.partitions))
        owned = {
            tp.partition
            for tp in self.ctx.app.assignor.assigned_actives()
            if tp.topic == COMPLAINTS_ACCEPTED.name
        }
        now = now_ms()
        for cid, state in list(self.tickets.items()):
            target = state["ticket"]["target"]
            if partition_for(target, partitions) not in owned:
                continue
            for kind in due_ticks(state, now, self.policy.ticket_retention_s):
                if (cid, kind) not in self.ticks_sent:
                    self.ticks_sent.add((cid, kind))
                    record = {"complaint_id": cid, "target": target, "kind": kind}
                    await self.ctx.emit(COMPLAINTS_TIMERS, {**record, "at": now})


def register(ctx: Context, registries: RegistryReader) -> None:
    complaints = Complaints(ctx, registries)

    def agent(spec: TopicSpec, name: str, handle: Callable[[Record], Awaitable[None]]) -> None:
        async def consume(stream: Any) -> None:
            await registries.ready.wait()
            async for event in stream.events():
                await ctx.process(event, STAGE, spec, handle)

        ctx.app.agent(ctx.source(spec), name=name)(consume)

    agent(COMPLAINTS_SUBMITTED, "route_complaint", complaints.route)
    agent(COMPLAINTS_ACCEPTED, "track_complaint", complaints.track)
    agent(COMPLAINTS_OUTCOMES, "decide_complaint", complaints.decide)
    agent(COMPLAINTS_TIMERS, "complaint_deadline", complaints.deadline)
    ctx.app.timer(interval=ctx.settings.complaint_tick_s, name="complaint_deadlines")(
        complaints.send_due_ticks
    )
