"""The confirmation step of a ``tools/call`` (``config.confirm``), as one decision per call.

:meth:`Confirmation.confirm` returns ``None`` when the call may run now, or what to answer
instead. The plan shown to the person comes from the worker (a ``plan_only`` call: the exact
upstream request and its effect in words, nothing changed). Then, by what the client can do:

* a 2026-07-28 client that declared elicitation gets ``input_required`` with an
  ``elicitation/create`` request and a ``requestState`` (a confirm token); its retry carries
  the answer;
* a session client that declared elicitation and reads a response stream is asked on it, and
  the call runs when the person accepts;
* every other client gets the plan and a single-use ``confirm_token`` (not an error), to send
  back with the same arguments once the person agreed.

Every decision is recorded on the call's audit record (``decision``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from stackmcp.contracts.audit import Decision, RefusalCode
from stackmcp.contracts.tools import CallPlan, ToolCallRequest, ToolCallResult, ToolDescriptor
from stackmcp.gateway.audit import CallAudit
from stackmcp.gateway.confirm import (
    CONFIRM_TOKEN_ARG,
    ConfirmTokens,
    ElicitAnswer,
    Elicitations,
    token_refusal,
)
from stackmcp.runtime.errors import StackmcpError

if TYPE_CHECKING:
    from stackmcp.gateway.mcp import CallContext, ToolRunner

__all__ = ["INPUT_KEY", "Confirmation", "Stop", "elicitation_declared"]

INPUT_KEY = "confirm"
"""Key of the confirmation in ``inputRequests`` / ``inputResponses`` (2026-07-28)."""


@dataclass(frozen=True)
class Stop:
    """A call that ends before it runs: a plan (``structured``), an ``input_required`` result,
    or an ``isError`` text."""

    text: str = ""
    structured: dict[str, Any] | None = None
    input_required: dict[str, Any] | None = None


def elicitation_declared(capabilities: object) -> bool:
    """Whether client ``capabilities`` declare form elicitation (an empty ``elicitation``
    object means form, as the spec says)."""
    if not isinstance(capabilities, dict):
        return False
    elicitation = capabilities.get("elicitation")
    if not isinstance(elicitation, dict):
        return False
    return not elicitation or "form" in elicitation


class Confirmation:
    """Decide, for one call needing confirmation, whether it runs now.

    Args:
        tools: runs the ``plan_only`` call on a worker.
        tokens: confirm tokens (``None``: such calls are refused).
        elicitations: asks session clients on their response stream (``None``: tokens only).
        timeout: seconds a person has to answer.
    """

    def __init__(
        self,
        tools: ToolRunner,
        tokens: ConfirmTokens | None,
        elicitations: Elicitations | None,
        timeout: float,
    ) -> None:
        self._tools = tools
        self._tokens = tokens
        self._elicitations = elicitations
        self._timeout = timeout

    async def confirm(
        self,
        tool: ToolDescriptor,
        call: ToolCallRequest,
        params: dict[str, Any],
        ctx: CallContext,
        audit: CallAudit,
    ) -> Stop | ToolCallResult | None:
        """``None`` to run ``call`` now, else the answer (see the module docstring);
        ``params`` are the ``tools/call`` params (arguments, 2026-07-28 input responses).

        Raises:
            Unavailable: the token store is unreachable.
        """
        tokens = self._tokens
        if tokens is None:
            audit.refused("confirmation_required")
            return Stop("This call needs a confirmation this gateway cannot ask for; try later.")
        if ctx.era.stateless and ("inputResponses" in params or "requestState" in params):
            return await self._answered(tokens, tool, call, params, audit)
        token = (params.get("arguments") or {}).get(CONFIRM_TOKEN_ARG)
        if token is not None:
            decision = await tokens.redeem(token, call.server_id, tool.name, call.arguments)
            return self._redeemed(decision, tool, audit)
        plan = await self._plan(call, audit)
        if not isinstance(plan, CallPlan):
            return plan
        return await self._ask(tool, call, plan, ctx, audit)

    async def _ask(
        self,
        tool: ToolDescriptor,
        call: ToolCallRequest,
        plan: CallPlan,
        ctx: CallContext,
        audit: CallAudit,
    ) -> Stop | None:
        if ctx.elicitation and ctx.outbox is not None and self._elicitations is not None:
            audit.decision = "asked"
            answer = await self._elicitations.ask(
                ctx.outbox, _elicit_params(tool, plan), self._timeout
            )
            return self._answer(answer, tool, audit)
        tokens = self._tokens
        assert tokens is not None  # checked by confirm()
        token = await tokens.issue(call.server_id, tool.name, call.arguments)
        if ctx.elicitation and ctx.era.stateless:
            stop = _input_required(tool, plan, token)
            return self._stop(audit, "asked", "confirmation_required", stop)
        stop = _planned(tool, plan, token, tokens.ttl)
        return self._stop(audit, "planned", "confirmation_required", stop)

    async def _plan(
        self, call: ToolCallRequest, audit: CallAudit
    ) -> CallPlan | Stop | ToolCallResult:
        planning = msgspec.structs.replace(call, plan_only=True)
        try:
            result = await self._tools.run(planning, write=False)
        except StackmcpError as exc:
            audit.tool_error(str(exc.code))
            return Stop(exc.message)
        if result.is_error or result.plan is None:
            audit.result(result)
            return result if result.is_error else Stop("The worker could not describe this call.")
        return result.plan

    async def _answered(
        self,
        tokens: ConfirmTokens,
        tool: ToolDescriptor,
        call: ToolCallRequest,
        params: dict[str, Any],
        audit: CallAudit,
    ) -> Stop | None:
        decision = await tokens.redeem(
            params.get("requestState"), call.server_id, tool.name, call.arguments
        )
        if decision != "confirmed":
            return self._redeemed(decision, tool, audit)
        responses = params.get("inputResponses")
        answer = responses.get(INPUT_KEY) if isinstance(responses, dict) else None
        return self._answer(_elicit_answer(answer), tool, audit)

    def _redeemed(self, decision: Decision, tool: ToolDescriptor, audit: CallAudit) -> Stop | None:
        audit.decision = decision
        if decision == "confirmed":
            return None
        code: RefusalCode = (
            "confirmation_timeout" if decision == "token_expired" else "confirm_token_invalid"
        )
        audit.refused(code)
        return Stop(token_refusal(decision, tool.name))

    def _answer(self, answer: ElicitAnswer, tool: ToolDescriptor, audit: CallAudit) -> Stop | None:
        if answer.action == "accept" and (answer.content or {}).get("confirm") is not False:
            audit.decision = "accepted"
            return None
        if answer.action == "timeout":
            text = (
                f"No answer to the confirmation request within {self._timeout:g} seconds: "
                f"{tool.name} was not run and nothing was changed."
            )
            return self._stop(audit, "expired", "confirmation_timeout", Stop(text))
        decision: Decision = "cancelled" if answer.action == "cancel" else "declined"
        text = (
            f"The user {decision} the confirmation: {tool.name} was not run and nothing was "
            "changed. Do not try again unless the user asks for it."
        )
        return self._stop(audit, decision, "confirmation_declined", Stop(text))

    @staticmethod
    def _stop(audit: CallAudit, decision: Decision, code: RefusalCode, stop: Stop) -> Stop:
        audit.decision = decision
        audit.refused(code)
        return stop


def _input_required(tool: ToolDescriptor, plan: CallPlan, state: str) -> Stop:
    request = {"method": "elicitation/create", "params": _elicit_params(tool, plan)}
    return Stop(
        input_required={
            "resultType": "input_required",
            "inputRequests": {INPUT_KEY: request},
            "requestState": state,
        }
    )


def _elicit_answer(answer: object) -> ElicitAnswer:
    if not isinstance(answer, dict) or answer.get("action") not in ("accept", "decline", "cancel"):
        return ElicitAnswer("cancel")
    content = answer.get("content")
    return ElicitAnswer(answer["action"], content if isinstance(content, dict) else None)


def _summary(plan: CallPlan) -> str:
    lines = [plan.effect]
    if plan.notifies:
        lines.append(f"Notifies: {plan.notifies}")
    request = f"{plan.method} {plan.path}"
    if plan.body is not None:
        request += " " + msgspec.json.encode(plan.body).decode()
    lines.append(f"Request to Better Stack: {request}")
    return "\n".join(lines)


def _elicit_params(tool: ToolDescriptor, plan: CallPlan) -> dict[str, Any]:
    return {
        "message": f"Allow {tool.title}?\n{_summary(plan)}",
        "requestedSchema": {
            "type": "object",
            "properties": {
                "confirm": {
                    "type": "boolean",
                    "title": "Go ahead",
                    "description": f"Run {tool.name} as described",
                    "default": True,
                }
            },
            "required": ["confirm"],
        },
    }


def _planned(tool: ToolDescriptor, plan: CallPlan, token: str, ttl: float) -> Stop:
    text = (
        f"Not run yet: {tool.name} needs the user's confirmation.\n{_summary(plan)}\n"
        "Show this plan to the user and ask whether to go ahead. Only if they agree, call "
        f'{tool.name} again with the same arguments plus "confirm_token": "{token}" '
        f"(valid for {ttl:g} seconds, once)."
    )
    structured = {
        "confirmation": {
            "status": "needs_confirmation",
            "tool": tool.name,
            "plan": msgspec.to_builtins(plan),
            "confirm_token": token,
            "expires_in_seconds": int(ttl),
        }
    }
    return Stop(text, structured)
