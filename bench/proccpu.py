"""CPU time from ``/proc``, shared by the bench scripts: a process tree's own CPU seconds and
the whole machine's busy seconds (to report how much other work ran next to a bench)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CLK_TCK", "machine_busy_seconds", "own_cpu_seconds", "process_tree"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError, ValueError):
                    children = Path(f"/proc/{current}/task/{task}/children").read_text()
                    todo.extend(int(c) for c in children.split())
    return out


def own_cpu_seconds(roots: Iterable[int]) -> float:
    """User + system CPU seconds of the live process trees under ``roots``.

    A process that exited (a killed worker) takes its CPU with it: it then counts as "other".
    """
    ticks = 0
    for pid in {p for root in roots for p in process_tree(root)}:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent not idle (``/proc/stat``; idle and iowait excluded)."""
    busy = 0
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            values = [int(v) for v in line.split()[1:]]
            busy += sum(values[:8]) - values[3] - values[4]
    return busy / CLK_TCK
