"""Summarise py-spy collapsed stacks (``py-spy record --format raw``) as text: where a
process's samples go, by package area (inclusive) and by function (self and inclusive).

    ./bin/uv run python bench/flame.py /tmp/prof/gateway-call-c8.txt [--top 25]

``bench/gateway_load.py --profile DIR`` writes one file per service and cell. A stack line is
``frame;frame;…;leaf count``; a frame is ``function (path:line)``. Percentages are of the
sampled (non-idle) time of the process.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^:()]*)(?::\d+)?\)$")

AREAS: tuple[tuple[str, str], ...] = (
    ("stackmcp/", "stackmcp"),
    ("litestar/", "litestar"),
    ("granian/", "granian"),
    ("nats/", "nats-py"),
    ("msgspec/", "msgspec"),
    ("opentelemetry/", "opentelemetry"),
    ("redis/", "redis-py"),
    ("httpx/", "httpx"),
    ("httpcore/", "httpcore"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "yarl"),
    ("h11/", "h11"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "uvloop"),
    ("logging/", "logging"),
)


def area(path: str) -> str:
    """The package a frame's file belongs to (``stackmcp`` split by module)."""
    for marker, name in AREAS:
        if marker in path:
            if name == "stackmcp":
                tail = path.split("stackmcp/", 1)[1].removesuffix(".py")
                return "stackmcp." + tail.replace("/", ".")
            return name
    return "other: " + Path(path).name if path else "other"


def parse(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """``(frames root→leaf as (function, path), count)`` per stack line."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            match = FRAME.match(raw)
            frames.append((match["func"], match["path"]) if match else (raw, ""))
        stacks.append((frames, int(count)))
    return stacks


def summarise(text: str, top: int) -> str:
    """The report for one collapsed-stack file."""
    stacks = parse(text)
    total = sum(n for _, n in stacks) or 1
    by_area: Counter[str] = Counter()
    leaf_area: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, n in stacks:
        names = {f"{func} ({area(path)})" for func, path in frames}
        for name in names:
            inclusive[name] += n
        for name in {area(path) for _, path in frames}:
            by_area[name] += n
        func, path = frames[-1]
        own[f"{func} ({area(path)})"] += n
        leaf_area[area(path)] += n

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"{total} samples"]
    out.append("\nself time by area (where the leaf frame is):")
    out += [f"  {pct(n)}  {name}" for name, n in leaf_area.most_common(top)]
    out.append("\ninclusive by area (stack passes through):")
    out += [f"  {pct(n)}  {name}" for name, n in by_area.most_common(top)]
    out.append("\nself time by function:")
    out += [f"  {pct(n)}  {name}" for name, n in own.most_common(top)]
    out.append("\ninclusive by function:")
    out += [f"  {pct(n)}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out)


def main() -> None:
    """Print the summary of each file named."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=20)
    options = parser.parse_args()
    for path in options.files:
        print(f"== {path.name}")
        print(summarise(path.read_text(), options.top))


if __name__ == "__main__":
    main()
