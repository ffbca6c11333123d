"""Fault targets of the production shape, a short CI subset of ``bench/faults.py``.

Each test runs one scenario of :mod:`tests.support.distributed` under closed-loop MCP load
(four clients over both gateways, reads and marked writes) with the short profile, then checks
the targets an SRE team would page on. The sandbox is the witness for writes: a marker stored
twice is a duplicate; one stored after its client was told the call failed (or gave up) ran late.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.distributed import (
    SCENARIOS,
    SHORT,
    Distributed,
    Figures,
    Trial,
    distributed_shape,
    load_server,
    run_trial,
)
from tests.support.sandbox import RunningSandbox

# The first test also starts the shape: seven Python services at once on a busy 2-core machine.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(240)]


@dataclass(frozen=True)
class Rig:
    """The running shape and the MCP server the load calls."""

    system: Distributed
    server: dict[str, object]

    async def run(self, scenario: str) -> tuple[Trial, Figures]:
        """Run one scenario with the short profile; print its figures."""
        trial = await run_trial(self.system, SCENARIOS[scenario], SHORT, self.server)
        assert trial.figures is not None
        print(f"\n{scenario}: {trial.figures}")
        return trial, trial.figures


@pytest.fixture(scope="module")
def rig(running_sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with distributed_shape(tmp_path_factory.mktemp("faults"), running_sandbox) as system:
        yield Rig(system, load_server(system))


def _writes_exactly_once(figures: Figures) -> list[str]:
    problems = []
    if figures.duplicated:
        problems.append(f"{figures.duplicated} writes stored twice")
    if figures.late:
        problems.append(f"{figures.late} writes ran after their client was told they failed")
    if figures.lost:
        problems.append(f"{figures.lost} writes reported ok are not in the sandbox")
    return problems


async def test_a_stalled_worker_costs_at_most_half_the_throughput(rig: Rig) -> None:
    _, figures = await rig.run("worker-stall")
    problems = _writes_exactly_once(figures)
    if figures.during < 0.5 * figures.before:
        problems.append(
            f"throughput during the stall {figures.during:.1f}/s < half of {figures.before:.1f}/s"
        )
    if figures.read_p99 is None or figures.read_p99 > 2.0:
        problems.append(f"read p99 during the stall {figures.read_p99} s > 2 s")
    assert not problems, problems


async def test_calls_in_flight_on_a_killed_worker_end_within_two_seconds(rig: Rig) -> None:
    trial, figures = await rig.run("worker-kill")
    problems = _writes_exactly_once(figures)
    assert trial.extra["in_flight"] > 0, "no call was in flight at the kill: nothing was tested"
    if trial.extra["in_flight_settled"] > 2.0:
        problems.append(
            f"calls in flight at the kill took {trial.extra['in_flight_settled']:.1f} s to end"
        )
    assert not problems, problems


async def test_a_valkey_restart_fails_a_handful_of_calls_and_recovers_in_seconds(
    rig: Rig,
) -> None:
    _, figures = await rig.run("valkey-restart")
    problems = _writes_exactly_once(figures)
    if figures.failed > 5:
        problems.append(f"{figures.failed} calls failed across a Valkey restart")
    if figures.recovery is None or figures.recovery > 5.0:
        problems.append(f"throughput back to 80 % after {figures.recovery} s (> 5 s)")
    assert not problems, problems


async def test_an_initialize_burst_is_answered_in_full(rig: Rig) -> None:
    trial, figures = await rig.run("initialize-burst")
    problems = _writes_exactly_once(figures)
    if trial.extra["five_xx"]:
        problems.append(f"{trial.extra['five_xx']:.0f} initialize answers were 5xx")
    if trial.extra["timeouts"] or trial.extra["other_failures"]:
        problems.append(
            f"{trial.extra['timeouts']:.0f} initialize POSTs timed out, "
            f"{trial.extra['other_failures']:.0f} failed otherwise"
        )
    assert not problems, problems


async def test_no_call_succeeds_on_a_server_after_its_revoke_answered(rig: Rig) -> None:
    trial, figures = await rig.run("revoke-in-flight")
    problems = _writes_exactly_once(figures)
    if trial.extra["succeeded_after_revoke"]:
        problems.append(
            f"{trial.extra['succeeded_after_revoke']:.0f} calls succeeded after the revoke"
        )
    assert not problems, problems
