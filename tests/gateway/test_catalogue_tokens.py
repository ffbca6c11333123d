"""What listing the tools costs a model's context, counted with a real tokenizer.

The ``tools/list`` result is built by the gateway's :class:`ToolCatalog` from the worker's
compiled catalogue, exactly as it is served (grant filters, pins, the ``confirm_token``
argument and the per-grant rendering applied: text naming only listed tools, update tools
without the fields of their listed create tool), and its JSON is counted in o200k tokens (``bpe-openai`` embeds the tables,
so this runs offline). The figures are printed (``pytest -s`` shows them) and each one fails
above its budget.

Run: ``./bin/uv run pytest -s tests/gateway/test_catalogue_tokens.py``
"""

from __future__ import annotations

import warnings
from typing import Any

import msgspec
import pytest

from stackmcp.cli.demo import DEMO_TAGS
from stackmcp.contracts.grants import Grant
from stackmcp.gateway.catalog import ToolCatalog

with warnings.catch_warnings():
    # bpe-openai reads its tables with importlib.resources.open_binary (deprecated, harmless)
    warnings.simplefilter("ignore", DeprecationWarning)
    import bpe_openai

    ENCODING = bpe_openai.get_encoding("o200k_base")

from tests.support.catalog import served_catalog


def _grant(**config: Any) -> Grant:
    return Grant(server_id="srv", account_id="acc", **config)


# (name, grant, budget in o200k tokens); issue 18's figures before the diet: 30,883 / 5,502
# (5,837 with the demo's confirm_token arguments) / 1,256.
CASES = [
    pytest.param("full catalogue", _grant(methods=("read", "write")), 15_000, id="full"),
    # The demo server `stackmcp up` creates against the sandbox (cli/demo.py).
    pytest.param(
        "demo server",
        _grant(methods=("read", "write"), tags=tuple(DEMO_TAGS), confirm="destructive"),
        3_000,
        id="demo",
    ),
    pytest.param(
        "read + incidents", _grant(methods=("read",), tags=("incidents",)), 900, id="read-incidents"
    ),
]


@pytest.fixture(scope="module")
def served() -> ToolCatalog:
    """A gateway catalogue holding the worker's compiled tools (no NATS: the reply is local)."""
    return served_catalog()


def tokens(text: str) -> int:
    return len(ENCODING.encode(text))


@pytest.mark.parametrize(
    ("name", "grant", "budget"), CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_tools_list_fits_its_token_budget(
    served: ToolCatalog, name: str, grant: Grant, budget: int
) -> None:
    page = served.list_page(grant, None, modern=False)
    result = msgspec.json.decode(page)
    assert "nextCursor" not in result  # one page holds them all: this is the whole cost
    count = tokens(page.decode())
    line = f"{name}: {len(result['tools'])} tools, {len(page):,} bytes, {count:,} o200k tokens"
    print(f"\n{line} (budget {budget:,})")
    assert count <= budget, line


def test_the_counter_is_the_o200k_tokenizer() -> None:
    assert ENCODING.name == "o200k_base"
    assert tokens('{"name":"list_all_better_stack_incidents"}') < 20
