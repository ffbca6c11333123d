"""Run one tool call: check the grant, validate, build the request, call Better Stack, normalise.

Everything per tool (validator, request plan, descriptor) is prepared once when the executor is
built, so a call only does the work that depends on its arguments. Problems with the call itself
(an unknown tool, or one the grant's filters, exclusions or pins withhold — answered
identically; see :mod:`.policy`) raise :class:`~stackmcp.runtime.errors.NotFound` and become
error replies; anything that goes wrong while running the tool (arguments outside the pins
included) comes back as an ``is_error`` result a model can act on.

A ``plan_only`` call stops once its request is built and answers with the plan
(:mod:`.plans`); only the reads that name its resources go upstream. With provenance, comments
carry a footer and incident actions are followed by a timeline note (:mod:`.provenance`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from opentelemetry import trace

from stackmcp.betterstack_worker import metrics
from stackmcp.betterstack_worker.api import Operation, Page
from stackmcp.betterstack_worker.catalog import Catalog
from stackmcp.betterstack_worker.cursors import CursorSigner
from stackmcp.betterstack_worker.execution import oncall
from stackmcp.betterstack_worker.execution.accounts import Account, AccountStore
from stackmcp.betterstack_worker.execution.arguments import ArgumentValidator
from stackmcp.betterstack_worker.execution.claims import WriteClaims
from stackmcp.betterstack_worker.execution.paging import Pager
from stackmcp.betterstack_worker.execution.plans import Planner
from stackmcp.betterstack_worker.execution.policy import (
    check_exposed,
    check_pins,
    hidden,
    keep_pinned,
    pinned_ids,
)
from stackmcp.betterstack_worker.execution.provenance import COMMENT_TOOL, note, with_footer
from stackmcp.betterstack_worker.execution.requests import RequestPlan, UpstreamRequest
from stackmcp.betterstack_worker.execution.resume import (
    RESUMABLE,
    RESUME_ARGUMENTS,
    ResumeScheduler,
    iso,
    resume_due,
)
from stackmcp.betterstack_worker.normalise import flatten_document, result_kind
from stackmcp.betterstack_worker.secrets import redactor_for
from stackmcp.betterstack_worker.untrusted import untrusted_fields
from stackmcp.betterstack_worker.upstream import (
    UpstreamClient,
    UpstreamHttpError,
    UpstreamResponse,
)
from stackmcp.contracts.tools import (
    CallPlan,
    CatalogRequest,
    CatalogResponse,
    RateLimitInfo,
    ToolCallRequest,
    ToolCallResult,
    ToolDescriptor,
)
from stackmcp.runtime.errors import InvalidArgument, StackmcpError, UpstreamError
from stackmcp.runtime.logging import serving_server
from stackmcp.runtime.natsx import NoReply

__all__ = ["Executor", "encoded_result", "error_result", "result_text"]

logger = logging.getLogger(__name__)

_DEADLINE_MARGIN = 0.5
"""Seconds kept back from the caller's timeout so the answer arrives before it gives up."""
_LAST_START = 0.05
"""Upstream work is not started with less than this many seconds left before the deadline."""
_NOTE_TIMEOUT = 3.0
"""Most seconds the provenance note after a write may take (the write's answer waits for it)."""
_MANY = 250
"""``per_page`` of the worker's own reads of whole lists (policies, severities)."""
_REFERENCE_TTL = 60.0
"""Seconds the worker reuses an account's escalation policies and severities (they change
rarely; an incident list walked page by page would read them again on every page)."""
_REFERENCE_RETRY = 10.0
"""Seconds a failed read of them is remembered: a token that may not read policies (or a
Better Stack outage) costs one failed request per account per 10 s, not two per call."""

_UNKNOWN: Any = object()
"""A reference list not remembered right now (``None`` is a remembered failed read)."""

GET_INCIDENT = "get_single_better_stack_incident_by_id"
LIST_INCIDENTS = "list_all_better_stack_incidents"
TIMELINE = "list_all_better_stack_incident_timeline"
COMMENTS = "list_all_better_stack_incident_comments"
POLICIES = "list_all_better_stack_escalation_policies"
GET_POLICY = "get_single_better_stack_escalation_policy_by_id"
SEVERITIES = "list_all_better_stack_severities"
GET_SCHEDULE = "get_single_better_stack_on_call_schedule_by_id"


class _Dropped(NoReply):
    """The call is left unanswered, for ``reason`` (``deadline`` or ``claimed``); counted only
    when it ends the call (a plan's lookup or a timeline note may swallow it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Call:
    """What the upstream step needs to know about the call it serves."""

    __slots__ = ("call_id", "deadline", "limit", "reveal_secrets", "timeout", "write")

    def __init__(self, request: ToolCallRequest, write: bool, limit: float | None = None) -> None:
        self.call_id = request.call_id
        self.limit = limit
        self.reveal_secrets = request.reveal_secrets
        self.timeout = request.timeout
        self.deadline = request.deadline
        self.write = write

    def upstream_timeout(self) -> float | None:
        """Seconds the upstream request may take: what remains before the deadline, at most
        ``limit``."""
        remaining = self._remaining()
        if self.limit is None:
            return remaining
        return self.limit if remaining is None else min(remaining, self.limit)

    def _remaining(self) -> float | None:
        if self.deadline is not None:
            return self.deadline - time.time() - _DEADLINE_MARGIN / 5
        if self.timeout is None:
            return None
        return max(0.1, self.timeout - _DEADLINE_MARGIN)


class _Tool:
    """One tool with everything a call needs, prepared once."""

    __slots__ = ("descriptor", "op", "plan", "redactor", "shapes", "untrusted", "validator")

    def __init__(self, descriptor: ToolDescriptor, op: Operation) -> None:
        self.descriptor = descriptor
        self.op = op
        self.shapes = any(p.location == "worker" for p in op.params) and op.page is not None
        self.validator = ArgumentValidator(op)
        self.plan = RequestPlan(op)
        self.redactor = redactor_for(op)
        self.untrusted = untrusted_fields(op)


class Executor:
    """Serve ``catalog.get`` and ``tool.call`` for one catalogue.

    Args:
        catalog: the compiled catalogue.
        accounts: credential store.
        upstream: pooled HTTP client.
        cursors: pagination cursor signer shared by all replicas.
        claims: write claims (writes run at most once); ``None`` runs writes unclaimed.
        resumes: records the scheduled resume of a pause (``resume_at``/``for_minutes``);
            ``None`` refuses those arguments.
    """

    def __init__(
        self,
        catalog: Catalog,
        accounts: AccountStore,
        upstream: UpstreamClient,
        cursors: CursorSigner,
        claims: WriteClaims | None = None,
        *,
        resumes: ResumeScheduler | None = None,
    ) -> None:
        self._catalog = catalog
        self._full = catalog.response()
        self._unchanged = CatalogResponse(version=catalog.version, unchanged=True)
        self._tools = {t.name: _Tool(t, catalog.operations[t.name]) for t in catalog.tools}
        self._accounts = accounts
        self._upstream = upstream
        self._cursors = cursors
        self._claims = claims
        self._resumes = resumes
        self._planner = Planner(catalog.operations)
        self._reference: dict[tuple[str, str, str, bool], tuple[float, Any]] = {}

    async def catalog(self, request: CatalogRequest) -> CatalogResponse:
        """The catalogue, or just its version when the caller already holds it."""
        return self._unchanged if request.known_version == self._catalog.version else self._full

    async def call(self, request: ToolCallRequest) -> ToolCallResult:
        """Run ``request.tool``; failures while running it are ``is_error`` results.

        Raises:
            NotFound: the tool does not exist or the grant hides it (filters, exclusions, or a
                write that could act outside the pins).
            NoReply: the deadline passed before any upstream work began, or the write was
                claimed elsewhere or abandoned: the caller no longer waits for this answer.
        """
        metrics.call_started()
        try:
            with serving_server(request.server_id):
                return await self._call(request)
        except _Dropped as exc:
            metrics.dropped(exc.reason)
            raise
        finally:
            metrics.call_finished()

    async def _call(self, request: ToolCallRequest) -> ToolCallResult:
        if request.deadline is not None and time.time() >= request.deadline:
            logger.info("dropped a tool call that reached this worker past its deadline")
            raise _Dropped("deadline")
        tool = self._tools.get(request.tool)
        if tool is None:
            raise hidden(request.tool)
        check_exposed(tool.descriptor, request)
        span = trace.get_current_span()
        span.set_attribute("mcp.tool.name", request.tool)
        span.set_attribute("stackmcp.server_id", request.server_id)
        try:
            return await self._run(tool, request)
        except UpstreamHttpError as exc:
            span.set_attribute("http.response.status_code", exc.status)
            return error_result(exc.error, rate_limit=exc.rate_limit, upstream_status=exc.status)
        except StackmcpError as exc:
            return error_result(exc)

    async def _run(self, tool: _Tool, request: ToolCallRequest) -> ToolCallResult:
        # Ids arrive as "7" or 7; from here on each is in the form the upstream wants.
        given = tool.validator.normalise(request.arguments)
        if tool.op.page is not None:
            return await self._list(tool, tool.op.page, given, request)
        _check(tool, given, request)
        arguments = with_footer(tool.descriptor.name, given, request.provenance)
        due = self._resume_due(tool, arguments)
        account = await self._accounts.get(request.account_id)
        if tool.op.compose == oncall.BRIEF:
            return await self._brief(tool, arguments, account, request)
        if tool.op.compose == oncall.ESCALATE_NEXT:
            return await self._escalate(tool, arguments, account, request)
        if request.plan_only:
            upstream_request = tool.plan.build(arguments, team_name=account.team_name)
            if due is None:
                return await self._plan(tool, arguments, upstream_request, account, request)
            changes = {k: v for k, v in arguments.items() if k not in RESUME_ARGUMENTS}
            planned = await self._plan(tool, changes, upstream_request, account, request)
            return _with_resume(planned, arguments)
        call = _Call(request, tool.descriptor.method_class == "write")
        result = await self._single(tool, arguments, account, call)
        await self._leave_note(tool, arguments, account, request)
        if self._resumes is not None and "paused" in arguments and request.tool in RESUMABLE:
            result = await self._after_pause(
                tool, call, result, arguments, due=due, request=request
            )
        return result

    async def _after_pause(
        self,
        tool: _Tool,
        call: _Call,
        result: ToolCallResult,
        arguments: Mapping[str, Any],
        *,
        due: float | None,
        request: ToolCallRequest,
    ) -> ToolCallResult:
        """After ``paused`` changed: schedule the resume (the result says when) or cancel the
        pending one."""
        assert self._resumes is not None
        action = await self._resumes.after_pause_change(request, arguments, due)
        if action is None:
            return result
        structured = result.structured_value()
        structured["resumes_at"] = iso(action.due_at)
        return _result(tool, call, structured, result.rate_limit, result.upstream_status or 200)

    def _resume_due(self, tool: _Tool, arguments: Mapping[str, Any]) -> float | None:
        """When a pause given ``resume_at``/``for_minutes`` ends (checked before anything is
        sent upstream); ``None`` without them."""
        due = resume_due(tool.descriptor.name, arguments, time.time())
        if due is not None and self._resumes is None:
            raise InvalidArgument("this worker cannot schedule a resume; pause without one")
        return due

    async def _list(
        self, tool: _Tool, page: Page, given: Mapping[str, Any], request: ToolCallRequest
    ) -> ToolCallResult:
        pager = Pager(
            self._cursors,
            account_id=request.account_id,
            server_id=request.server_id,
            tool=request.tool,
        )
        state, arguments = pager.resume(given)
        _check(tool, arguments, request)
        window = pager.open(page, arguments, state)
        account = await self._accounts.get(request.account_id)
        upstream_request = tool.plan.build(
            window.arguments, extra_query=window.upstream_query(page), team_name=account.team_name
        )
        if request.plan_only:
            return await self._plan(tool, window.arguments, upstream_request, account, request)
        call = _Call(request, write=False)
        if tool.op.compose == oncall.INCIDENT_SEVERITY:
            answer, items = await self._with_severity(tool, account, upstream_request, call)
        elif tool.op.compose == oncall.HEARTBEAT_PINGS:
            answer, incidents = await asyncio.gather(
                self._send(tool.op, account, upstream_request, call),
                self._optional(
                    self._fetch(
                        LIST_INCIDENTS, {"resolved": False}, account, call, whole=True, per_page=50
                    )
                ),
            )
            items = oncall.with_missed_pings(_items(tool.op, answer.body), incidents or [])
        else:
            answer = await self._send(tool.op, account, upstream_request, call)
            items = _items(tool.op, answer.body)
        pinned = pinned_ids(tool.descriptor, request.pin)
        if page.upstream:
            next_cursor = pager.close_upstream(window, items, answer.body)
            items = self._shaped(tool, keep_pinned(items, pinned), window.arguments)
        else:
            items = self._shaped(tool, keep_pinned(items, pinned), window.arguments)
            items, next_cursor = pager.slice(window, items)
        structured = {"result": items, "next_cursor": next_cursor}
        return _result(tool, call, structured, answer.rate_limit, answer.status)

    @staticmethod
    def _shaped(tool: _Tool, items: list[Any], arguments: Mapping[str, Any]) -> list[Any]:
        """The items after the tool's worker-side filters (timeline, monitor status...)."""
        if not tool.shapes:
            return items
        return oncall.shape_items(result_kind(tool.op.path) or "", items, arguments)

    async def _fetch(
        self,
        name: str,
        arguments: Mapping[str, Any],
        account: Account,
        call: _Call,
        *,
        whole: bool = False,
        per_page: int = _MANY,
    ) -> tuple[Any, UpstreamResponse]:
        """The redacted result of the worker's own read through tool ``name`` (a list tool's
        items unsliced; ``whole`` asks an upstream-paged list for its first ``per_page``)."""
        tool = self._tools[name]
        extra = [("page", "1"), ("per_page", str(per_page))] if whole else []
        upstream_request = tool.plan.build(
            arguments, extra_query=extra, team_name=account.team_name
        )
        answer = await self._send(tool.op, account, upstream_request, call)
        if tool.op.page is not None:
            result: Any = _items(tool.op, answer.body)
        else:
            result = _single_result(tool.op, answer.body)
        if tool.redactor is not None and not call.reveal_secrets:
            result = tool.redactor.result(result)
        return result, answer

    async def _optional(self, read: Any) -> Any:
        """The result of ``read`` (a :meth:`_fetch`), or ``None`` when it failed: the parts of
        a composed answer that only add detail never fail the call."""
        try:
            result, _ = await read
        except (UpstreamHttpError, StackmcpError, NoReply) as exc:
            logger.info("an optional read of a composed answer failed: %r", exc)
            return None
        return result

    async def _with_severity(
        self, tool: _Tool, account: Account, upstream_request: UpstreamRequest, call: _Call
    ) -> tuple[UpstreamResponse, list[Any]]:
        """An incident list page with each incident's severity and escalation step, from its
        policy and the severities (read concurrently with the page)."""
        policies = self._remembered(POLICIES, account, call)
        severities = self._remembered(SEVERITIES, account, call)
        if policies is _UNKNOWN or severities is _UNKNOWN:
            answer, policies, severities = await asyncio.gather(
                self._send(tool.op, account, upstream_request, call),
                self._reference_list(POLICIES, account, call),
                self._reference_list(SEVERITIES, account, call),
            )
        else:  # both remembered: no tasks to gather (three per call, ~5 % of a worker's call)
            answer = await self._send(tool.op, account, upstream_request, call)
        items = _items(tool.op, answer.body)
        if policies is None:
            return answer, items
        return answer, oncall.with_severity(items, policies, severities or [], _now())

    async def _reference_list(self, name: str, account: Account, call: _Call) -> Any:
        """An account's policies or severities (first :data:`_MANY`), reused for
        :data:`_REFERENCE_TTL` seconds; ``None`` when the read failed (remembered for
        :data:`_REFERENCE_RETRY` seconds)."""
        remembered = self._remembered(name, account, call)
        if remembered is not _UNKNOWN:
            return remembered
        result = await self._optional(self._fetch(name, {}, account, call, whole=True))
        if len(self._reference) > 10_000:
            self._reference.clear()
        ttl = _REFERENCE_RETRY if result is None else _REFERENCE_TTL
        key = (account.id, account.uptime_origin, name, call.reveal_secrets)
        self._reference[key] = (time.monotonic() + ttl, result)
        return result

    def _remembered(self, name: str, account: Account, call: _Call) -> Any:
        """The reference list ``name`` while it is remembered (``None``: its read failed),
        else :data:`_UNKNOWN`."""
        cached = self._reference.get((account.id, account.uptime_origin, name, call.reveal_secrets))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return _UNKNOWN

    async def _brief(
        self, tool: _Tool, arguments: Mapping[str, Any], account: Account, request: ToolCallRequest
    ) -> ToolCallResult:
        """The incident brief: the incident, timeline, comments, severities and who is on call
        read concurrently, then the incident's policy."""
        call = _Call(request, write=False)
        ids = {"incident_id": arguments["incident_id"]}
        (
            (incident, answer),
            (timeline, _),
            (comments, _),
            severities,
            schedule,
        ) = await asyncio.gather(
            self._fetch(GET_INCIDENT, ids, account, call),
            self._fetch(TIMELINE, ids, account, call),
            self._fetch(COMMENTS, ids, account, call),
            self._reference_list(SEVERITIES, account, call),
            self._optional(self._fetch(GET_SCHEDULE, {"schedule_id": "default"}, account, call)),
        )
        policy = None
        policy_id = incident.get("escalation_policy_id") if isinstance(incident, dict) else None
        if policy_id is not None:
            policy = await self._optional(
                self._fetch(GET_POLICY, {"policy_id": str(policy_id)}, account, call)
            )
        result = oncall.brief(
            incident if isinstance(incident, dict) else {},
            timeline=timeline,
            comments=comments,
            policy=policy,
            urgencies=severities or [],
            on_call=oncall.on_call_emails(schedule) if schedule is not None else None,
            now=_now(),
        )
        return _result(tool, call, {"result": result}, answer.rate_limit, answer.status)

    async def _escalate(
        self, tool: _Tool, arguments: Mapping[str, Any], account: Account, request: ToolCallRequest
    ) -> ToolCallResult:
        """Escalate, and say who was notified (Better Stack answers with the unchanged
        incident, so the worker composes it from the target). ``to: next_step`` pages the
        members of the next step of the incident's escalation policy, one request each."""
        given = {k: v for k, v in arguments.items() if k != "to"}
        next_step = arguments.get("to") == "next_step"
        if next_step == ("escalation_type" in given):
            raise InvalidArgument(
                "give either to: next_step or escalation_type",
                fields={"escalation_type": ["give this or to: next_step, not both"]},
            )
        read = _Call(request, write=False)
        step: dict[str, Any] | None = None
        if next_step:
            step, targets, notified = await self._next_step(given, account, read)
            requests = [{**given, **target} for target in targets]
        else:
            requests, notified = [given], []
        if request.plan_only:
            first = tool.plan.build(requests[0], team_name=account.team_name)
            planned = await self._plan(tool, requests[0], first, account, request)
            if len(requests) > 1 and planned.plan is not None:
                rest = "; ".join(f"{r['escalation_type']} {_target_of(r)}" for r in requests[1:])
                effect = f"{planned.plan.effect} Then {len(requests) - 1} more: {rest}."
                return _plan_result(msgspec.structs.replace(planned.plan, effect=effect))
            return planned
        write = _Call(request, write=True)
        result: ToolCallResult | None = None
        for index, one in enumerate(requests):
            result = await self._single(tool, one, account, write if index == 0 else read)
            if result.is_error:
                return result
        assert result is not None
        if not next_step:
            notified = await self._notified(given, account, read)
        await self._leave_note(tool, requests[0], account, request)
        structured = result.structured_value()
        structured["notified"] = notified
        if step is not None:
            structured["step"] = step
        return _result(tool, read, structured, result.rate_limit, result.upstream_status or 200)

    async def _next_step(
        self, given: Mapping[str, Any], account: Account, call: _Call
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
        """The next step of the incident's policy: the step, the escalate targets that page
        its members, and who they are in words."""
        ids = {"incident_id": given["incident_id"]}
        (incident, _), severities, schedule = await asyncio.gather(
            self._fetch(GET_INCIDENT, ids, account, call),
            self._reference_list(SEVERITIES, account, call),
            self._optional(self._fetch(GET_SCHEDULE, {"schedule_id": "default"}, account, call)),
        )
        policy_id = incident.get("escalation_policy_id") if isinstance(incident, dict) else None
        if policy_id is None:
            raise InvalidArgument(
                "this incident has no escalation policy; escalate with escalation_type instead"
            )
        policy, _ = await self._fetch(GET_POLICY, {"policy_id": str(policy_id)}, account, call)
        on_call = oncall.on_call_emails(schedule) if schedule is not None else None
        view = oncall.progress(
            incident, policy, oncall.severity_names(severities or []), _now(), on_call
        )
        upcoming = (view or {}).get("next_step")
        if not upcoming:
            raise InvalidArgument(
                "the escalation policy has no further escalation step for this incident; "
                "escalate with escalation_type instead"
            )
        steps = [s for s in policy.get("steps") or () if isinstance(s, dict)]
        calendar = str(schedule["id"]) if isinstance(schedule, dict) and "id" in schedule else None
        targets, skipped = oncall.escalation_targets(
            steps[upcoming["step"] - 1], calendar, account.team_name
        )
        if not targets:
            raise InvalidArgument(
                f"step {upcoming['step']} pages only {', '.join(skipped) or 'nobody'}, "
                "which the API cannot escalate to; escalate with escalation_type instead"
            )
        step = {"step": upcoming["step"], "of": view["steps"] if view else len(steps)}
        if "severity" in upcoming:
            step["severity"] = upcoming["severity"]
        if skipped:
            step["not_paged"] = skipped
        return step, targets, list(upcoming["who"])

    async def _notified(self, given: Mapping[str, Any], account: Account, call: _Call) -> list[str]:
        """Who an escalate request paged, from its target (reads are best effort)."""
        kind = given.get("escalation_type")
        schedule = policy = None
        if kind == "Schedule" and given.get("schedule_id") is not None:
            schedule = await self._optional(
                self._fetch(GET_SCHEDULE, {"schedule_id": str(given["schedule_id"])}, account, call)
            )
        if kind == "Policy" and given.get("policy_id") is not None:
            policy = await self._optional(
                self._fetch(GET_POLICY, {"policy_id": str(given["policy_id"])}, account, call)
            )
        return oncall.notified_by(given, schedule, policy)

    async def _plan(
        self,
        tool: _Tool,
        arguments: Mapping[str, Any],
        upstream_request: UpstreamRequest,
        account: Account,
        request: ToolCallRequest,
    ) -> ToolCallResult:
        """The plan of the call: only the reads that name its resources go upstream."""

        async def lookup(name: str, lookup_arguments: Mapping[str, Any]) -> Any:
            return await self._read(name, lookup_arguments, account, request)

        plan = await self._planner.plan(
            tool.descriptor, arguments, upstream_request, lookup, request.provenance
        )
        return _plan_result(plan)

    async def _read(
        self, name: str, arguments: Mapping[str, Any], account: Account, request: ToolCallRequest
    ) -> Any:
        """The result of the read tool ``name`` (redacted as a call would be), or ``None``."""
        tool = self._tools.get(name)
        if tool is None:
            return None
        call = _Call(request, write=False)
        try:
            upstream_request = tool.plan.build(arguments, team_name=account.team_name)
            answer = await self._send(tool.op, account, upstream_request, call)
        except (UpstreamHttpError, StackmcpError, NoReply) as exc:
            logger.info("a plan names a resource without its name: %s failed (%s)", name, exc)
            return None
        result = _single_result(tool.op, answer.body)
        if tool.redactor is not None and not call.reveal_secrets:
            result = tool.redactor.result(result)
        return result

    async def _leave_note(
        self, tool: _Tool, arguments: Mapping[str, Any], account: Account, request: ToolCallRequest
    ) -> None:
        """Post the provenance note after a successful incident action; failures are logged,
        never returned (the action itself succeeded)."""
        text = note(tool.descriptor.name, request.provenance)
        comment = self._tools.get(COMMENT_TOOL)
        if text is None or comment is None:
            return
        note_arguments = {"incident_id": arguments.get("incident_id"), "content": text}
        call = _Call(request, write=False, limit=_NOTE_TIMEOUT)
        try:
            upstream_request = comment.plan.build(note_arguments, team_name=account.team_name)
            await self._send(comment.op, account, upstream_request, call)
        except (UpstreamHttpError, StackmcpError, NoReply) as exc:
            logger.warning(
                "the provenance note after %s was not posted: %r", tool.descriptor.name, exc
            )

    async def _single(
        self, tool: _Tool, arguments: Mapping[str, Any], account: Account, call: _Call
    ) -> ToolCallResult:
        upstream_request = tool.plan.build(arguments, team_name=account.team_name)
        answer = await self._send(tool.op, account, upstream_request, call)
        structured: dict[str, Any] = {"result": _single_result(tool.op, answer.body)}
        if tool.op.keep_keys and isinstance(answer.body, dict):
            structured.update({k: answer.body[k] for k in tool.op.keep_keys if k in answer.body})
        return _result(tool, call, structured, answer.rate_limit, answer.status)

    async def _send(
        self,
        op: Operation,
        account: Account,
        upstream_request: UpstreamRequest,
        call: _Call,
    ) -> UpstreamResponse:
        timeout = call.upstream_timeout()
        if timeout is not None and timeout < _LAST_START:
            logger.info("dropped a tool call whose deadline passed before it was sent upstream")
            raise _Dropped("deadline")
        claims = self._claims if call.write and call.call_id else None
        if claims is not None and not await claims.claim(call.call_id):
            logger.info("dropped a write that was claimed elsewhere or abandoned")
            raise _Dropped("claimed")
        origin = account.betterstack_origin if op.host == "betterstack" else account.uptime_origin
        return await self._upstream.send(
            upstream_request.method,
            origin,
            upstream_request.path,
            token=account.token,
            query=upstream_request.query,
            body=upstream_request.body,
            timeout=timeout,
            route=op.path,
        )


def _target_of(escalation: Mapping[str, Any]) -> str:
    """The target of one escalate request, e.g. ``bob@example.com`` or ``schedule 1``."""
    for key, label in (
        ("user_email", ""),
        ("user_id", "user "),
        ("team_name", "team "),
        ("schedule_id", "schedule "),
        ("policy_id", "policy "),
    ):
        if escalation.get(key) is not None:
            return f"{label}{escalation[key]}"
    return ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check(tool: _Tool, arguments: Mapping[str, Any], request: ToolCallRequest) -> None:
    """The pins first (their message is the clearer one), then the input schema."""
    check_pins(tool.descriptor, arguments, request.pin)
    _validate(tool, arguments)


def _validate(tool: _Tool, arguments: Mapping[str, Any]) -> None:
    problems = tool.validator.validate(arguments)
    if problems:
        raise InvalidArgument("the arguments do not match the tool's input schema", fields=problems)


def _items(op: Operation, body: Any) -> list[Any]:
    if op.envelope == "raw_list":
        items = body.get(op.list_key) if isinstance(body, dict) and op.list_key else None
    else:
        items = flatten_document(body)
    if not isinstance(items, list):
        raise UpstreamError("Better Stack answered with something other than a list")
    return items


def _single_result(op: Operation, body: Any) -> Any:
    if op.envelope == "empty" or body is None:
        return None
    if op.envelope == "raw_object":
        return body
    return flatten_document(body)


def _result(
    tool: _Tool,
    call: _Call,
    structured: dict[str, Any],
    rate_limit: RateLimitInfo | None,
    status: int,
) -> ToolCallResult:
    if tool.redactor is not None and not call.reveal_secrets:
        structured["result"] = tool.redactor.result(structured["result"])
    text, whole = encoded_result(structured)
    return ToolCallResult(
        text=text,
        structured=msgspec.Raw(whole),
        rate_limit=rate_limit,
        upstream_status=status,
        untrusted=tool.untrusted,
    )


def result_text(structured: Mapping[str, Any]) -> str:
    """The text content of a result: its compact JSON without the members that are ``null``
    inside ``result`` (the model reads less; ``structuredContent`` keeps every member).

    The envelope stays whole, so ``"next_cursor": null`` still says there is no more and a
    delete still answers ``{"result":null}``.
    """
    lean = {
        key: _without_nulls(value) if key == "result" else value
        for key, value in structured.items()
    }
    return msgspec.json.encode(lean).decode()


def encoded_result(structured: Mapping[str, Any]) -> tuple[str, bytes]:
    """:func:`result_text` and the ``structuredContent`` JSON of a result, encoding its
    (large) ``result`` member once, and leaving nulls out only when it has some.

    The text is ``""`` when it would equal the JSON (:attr:`ToolCallResult.text`'s
    convention), so the reply carries the result once, not twice."""
    if next(iter(structured), None) != "result":
        text, whole = result_text(structured), msgspec.json.encode(structured)
        return ("" if text.encode() == whole else text), whole
    result = structured["result"]
    body = msgspec.json.encode(result)
    rest = {key: value for key, value in structured.items() if key != "result"}
    tail = b"," + msgspec.json.encode(rest)[1:] if rest else b"}"
    whole = b"".join((b'{"result":', body, tail))
    if b"null" not in body:  # (also text inside a string: then the slow path finds none)
        return "", whole
    lean = b"".join((b'{"result":', msgspec.json.encode(_without_nulls(result)), tail))
    return ("" if lean == whole else lean.decode()), whole


_NESTED = frozenset((dict, list))


def _without_nulls(value: Any) -> Any:
    # Scalars are never passed down: most values are scalars, and a call per value was most
    # of the cost.
    if type(value) is list:
        return [_without_nulls(v) if type(v) in _NESTED else v for v in value]
    if type(value) is dict:
        return {
            k: _without_nulls(v) if type(v) in _NESTED else v
            for k, v in value.items()
            if v is not None
        }
    return value


def _with_resume(planned: ToolCallResult, arguments: Mapping[str, Any]) -> ToolCallResult:
    """The plan of a pause with a resume time, saying when it ends."""
    if planned.plan is None:
        return planned
    minutes = arguments.get("for_minutes")
    when = f"{minutes} minutes after the pause" if minutes else f"at {arguments['resume_at']}"
    effect = f"{planned.plan.effect} Resumes by itself {when}."
    return _plan_result(msgspec.structs.replace(planned.plan, effect=effect))


def _plan_result(plan: CallPlan) -> ToolCallResult:
    return ToolCallResult(plan=plan, structured=msgspec.Raw(msgspec.json.encode(plan)))


def error_result(
    error: StackmcpError,
    *,
    rate_limit: RateLimitInfo | None = None,
    upstream_status: int | None = None,
) -> ToolCallResult:
    """The ``is_error`` result for ``error``: its message, with field problems spelled out."""
    text = error.message
    if error.fields:
        details = "; ".join(f"{name}: {', '.join(msgs)}" for name, msgs in error.fields.items())
        text = f"{text}. {details}"
    return ToolCallResult(
        text=text,
        is_error=True,
        error=error.to_body(),
        rate_limit=rate_limit,
        upstream_status=upstream_status,
    )
