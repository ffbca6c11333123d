"""Fault suite: the production shape on one machine, under MCP load, while parts of it fail.

What runs (all on 127.0.0.1, every process started here and stopped at the end): the sandbox,
a 3-node JetStream cluster, Valkey with AOF, two gateways, two workers, two expiry replicas and
provisioning (``tests/support/distributed.py``). Four closed-loop MCP clients (official SDK
``Client``) spread over both gateways call ``list_all_better_stack_incidents`` and, every third
call, ``create_a_better_stack_incident_comment`` with a unique marker text; a client whose
session breaks reconnects to the other gateway (what a load balancer does).

Each scenario: warm up, measure ``before`` seconds, inject the fault, measure until ``after``
seconds past its end and throughput is back (or 30 s), bring everything back, then read the
sandbox's comments to see which writes really ran, twice, or after the client was told they
failed. One table row per scenario:

* ok / failed: tool calls of the load (a failed session open is a note, not a call);
* before / during / after: successful calls per second before the fault, while it lasts
  (injection until the part is back), and in the ``after`` seconds that follow;
* read p99: seconds, reads sent during the fault, failures and client give-ups included;
* recovery: seconds from fault end until a 1-second window reaches 80 % of ``before``;
* lost: writes reported ok that are not in the sandbox; dup: markers stored twice; late: writes
  stored after the client was told they failed or gave up.

    ./bin/uv run python bench/faults.py                     # every scenario, about 8 min
    ./bin/uv run python bench/faults.py worker-stall --short
    ./bin/uv run python bench/faults.py --list
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ runs as a script; tests.support lives at the repo root
    sys.path.insert(0, str(ROOT))


from proccpu import machine_busy_seconds, own_cpu_seconds  # noqa: E402

from tests.support.distributed import (  # noqa: E402
    FULL,
    SCENARIOS,
    SHORT,
    Distributed,
    Figures,
    Profile,
    Trial,
    distributed_shape,
    load_server,
    run_trial,
    sandbox_running,
    sentinel_helper,
)

HEAD = (
    "| scenario | ok | failed | before /s | during /s | after /s | read p99 s | recovery s "
    "| lost | dup | late | other CPU % | notes |"
)
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def row(figures: Figures, other: float | None = None) -> str:
    """One Markdown table row; ``other``: CPU used by processes not started here."""
    if figures.skipped:
        return f"| {figures.scenario} | skipped: {figures.skipped} |" + " |" * 11
    recovery = "never" if figures.recovery is None else _f(figures.recovery)
    cells = [
        figures.scenario,
        str(figures.ok),
        str(figures.failed),
        _f(figures.before),
        _f(figures.during),
        _f(figures.after),
        _f(figures.read_p99, 2),
        recovery,
        str(figures.lost),
        str(figures.duplicated),
        str(figures.late),
        _f(other, 0),
        figures.notes,
    ]
    return "| " + " | ".join(cells) + " |"


class CpuMeter:
    """CPU used on this machine by processes this bench did not start, since creation."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        return time.monotonic(), machine_busy_seconds(), own_cpu_seconds([os.getpid()])

    def other_pct(self) -> float:
        """Percent of one core, over the time since creation."""
        wall, busy, own = (b - a for a, b in zip(self._start, self._sample(), strict=True))
        return 100 * max(0.0, busy - own) / wall if wall > 0 else 0.0


def failed_row(name: str, error: BaseException) -> Figures:
    """The row of a scenario whose harness failed (the shape did not do what was asked)."""
    note = f"harness error: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return Figures(name, 0, 0, 0, 0, 0, None, None, 0, 0, 0, skipped=note)


async def run_all(
    system: Distributed, names: list[str], profile: Profile, records: Path | None
) -> tuple[list[Figures], list[float]]:
    """Every scenario in turn; a row is printed as soon as its scenario is done."""
    server = load_server(system)
    rows: list[Figures] = []
    others: list[float] = []
    for name in names:
        meter = CpuMeter()
        try:
            trial = await run_trial(system, SCENARIOS[name], profile, server)
            assert trial.figures is not None
            figures = trial.figures
            if records is not None:
                save_records(records, trial)
        except Exception as exc:  # one broken scenario must not hide the others
            traceback.print_exc()
            figures = failed_row(name, exc)
            with contextlib.suppress(Exception):
                await system.make_whole()
        other = meter.other_pct()
        rows.append(figures)
        others.append(other)
        print(row(figures, other), flush=True)
    return rows, others


def save_records(path: Path, trial: Trial) -> None:
    """Append every call of a trial (load and side load) to ``path`` as JSON lines, with
    times relative to the fault's start."""
    with path.open("a") as out:
        for side, records in (("load", trial.load.records), ("side", trial.side_records)):
            for record in records:
                line = dataclasses.asdict(record)
                for key in ("started", "ended"):
                    line[key] = round(line[key] - trial.fault_start, 3)
                out.write(json.dumps({"scenario": trial.name, "load": side, **line}) + "\n")


def shapes(names: list[str]) -> list[tuple[str, list[str], bool]]:
    """Which shape runs which scenarios: ``valkey-failover`` gets its own, with Sentinel, once
    ``stackmcp.embedded`` has a Sentinel helper (otherwise it reports itself skipped)."""
    failover = "valkey-failover"
    runs = [n for n in names if n != failover or sentinel_helper() is None]
    plan = [("shape", runs, False)] if runs else []
    if failover in names and failover not in runs:
        plan.append(("shape-sentinel", [failover], True))
    return plan


def parse_options() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help="default: all")
    parser.add_argument("--short", action="store_true", help="shorter windows, 8 s stall")
    parser.add_argument("--clients", type=int, default=4, help="concurrent MCP clients")
    parser.add_argument("--out", type=Path, help="keep logs in this folder")
    parser.add_argument("--records", type=Path, help="append every call as JSON lines here")
    parser.add_argument("--list", action="store_true", help="print the scenario names")
    options = parser.parse_args()
    unknown = [name for name in options.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    return options


def main() -> None:
    """Start the shape, run the scenarios, print the table and one JSON line."""
    options = parse_options()
    if options.list:
        print("\n".join(SCENARIOS))
        return
    names = options.scenarios or list(SCENARIOS)
    profile = dataclasses.replace(SHORT if options.short else FULL, clients=options.clients)
    started = time.monotonic()
    rows: list[Figures] = []
    others: list[float] = []
    with contextlib.ExitStack() as exits:
        if options.out is not None:
            base = options.out
            base.mkdir(parents=True, exist_ok=True)
        else:
            base = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="faults-")))
        sandbox = exits.enter_context(sandbox_running(base))
        print(
            f"fault suite: {len(names)} scenario(s), {profile.clients} clients, "
            f"{'short' if options.short else 'full'} profile; {os.cpu_count()} CPUs; "
            f"logs in {base}",
            flush=True,
        )
        print(HEAD, RULE, sep="\n", flush=True)
        for folder, group, sentinel in shapes(names):
            with distributed_shape(base / folder, sandbox, sentinel=sentinel) as system:
                done = asyncio.run(run_all(system, group, profile, options.records))
            rows.extend(done[0])
            others.extend(done[1])
    line = {
        "bench": "faults",
        "profile": dataclasses.asdict(profile),
        "elapsed_s": round(time.monotonic() - started, 1),
        "rows": [
            {**dataclasses.asdict(r), "other_cpu_pct": round(o, 1)}
            for r, o in zip(rows, others, strict=True)
        ],
    }
    print(json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
