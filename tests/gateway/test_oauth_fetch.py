"""The CIMD fetcher against a real TLS server: what it fetches, and every way it refuses.

Addresses are injected through ``resolve``, so no test needs DNS; refused addresses are refused
before any connection is made.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from stackmcp.gateway.oauth.fetch import ClientMetadataError, fetch_client_metadata
from tests.support import tls
from tests.support.tls import Document, TlsServer

tls_server = tls.tls_server

TEST_NAME = "stackmcp-test.invalid"
CLIENT = {"client_id": "x", "client_name": "Test client", "redirect_uris": ["http://127.0.0.1/cb"]}


class FixedResolver:
    """Answers every name with the same addresses, and records what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return list(self.addresses)


@pytest.fixture(autouse=True)
def trust_test_ca(tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(autouse=True)
def release_stalls(tls_server: TlsServer) -> Iterator[None]:
    yield
    tls_server.release_all()


async def refused(url: str, **options: Any) -> str:
    with pytest.raises(ClientMetadataError) as caught:
        await fetch_client_metadata(url, **options)
    assert caught.value.message == str(caught.value)
    return caught.value.message


# --- what is fetched ---------------------------------------------------------------------------


async def test_a_good_document_is_fetched(tls_server: TlsServer) -> None:
    tls_server.serve("/good.json", Document.json(CLIENT))
    document = await fetch_client_metadata(tls_server.url("/good.json"), allow_loopback=True)
    assert document == CLIENT


async def test_fetches_are_logged_without_the_document(
    tls_server: TlsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stackmcp.gateway.oauth.fetch")
    tls_server.serve("/logged.json", Document.json(CLIENT))
    await fetch_client_metadata(tls_server.url("/logged.json"), allow_loopback=True)
    await refused(tls_server.url("/logged.json"))
    fetched, refusal = (record.getMessage() for record in caplog.records)
    size = len(json.dumps(CLIENT))
    assert fetched == f"client metadata {tls_server.url('/logged.json')!r} fetched ({size} bytes)"
    assert refusal.endswith("refused: client_id URL names a loopback address (127.0.0.1)")
    assert "Test client" not in caplog.text


async def test_json_media_type_variants_are_accepted(tls_server: TlsServer) -> None:
    tls_server.serve(
        "/variant.json",
        Document.json(CLIENT, headers={"Content-Type": "application/foo+json; charset=utf-8"}),
    )
    url = tls_server.url("/variant.json")
    assert await fetch_client_metadata(url, allow_loopback=True) == CLIENT


async def test_chunked_document_within_the_limit_is_fetched(tls_server: TlsServer) -> None:
    tls_server.serve("/chunked.json", Document.json(CLIENT, chunked=True))
    url = tls_server.url("/chunked.json")
    assert await fetch_client_metadata(url, allow_loopback=True) == CLIENT


async def test_the_connection_goes_to_the_checked_address_with_the_name_as_sni_and_host(
    tls_server: TlsServer,
) -> None:
    # No resolver knows the .invalid name: the document can only arrive if the fetcher connects
    # to the address it checked, and TLS only verifies if the name is sent as SNI and checked.
    tls_server.serve("/pinned.json", Document.json(CLIENT))
    resolve = FixedResolver("127.0.0.1")
    url = tls_server.url("/pinned.json", host=TEST_NAME)
    document = await fetch_client_metadata(url, allow_loopback=True, resolve=resolve)
    assert document == CLIENT
    assert resolve.asked == [(TEST_NAME, tls_server.port)]
    (seen,) = tls_server.seen("/pinned.json")
    assert seen.host == f"{TEST_NAME}:{tls_server.port}"
    assert seen.sni == TEST_NAME


async def test_certificate_is_verified_for_the_name_not_the_address(tls_server: TlsServer) -> None:
    # The certificate is valid for 127.0.0.1, but not for this name.
    tls_server.serve("/name.json", Document.json(CLIENT))
    url = tls_server.url("/name.json", host="elsewhere.invalid")
    message = await refused(url, allow_loopback=True, resolve=FixedResolver("127.0.0.1"))
    assert message.startswith("the TLS certificate of elsewhere.invalid could not be verified")


async def test_an_untrusted_certificate_is_refused(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    tls_server.serve("/untrusted.json", Document.json(CLIENT))
    message = await refused(tls_server.url("/untrusted.json"), allow_loopback=True)
    assert message.startswith("the TLS certificate of 127.0.0.1 could not be verified")


# --- the URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://client.example/meta.json", "client_id URL must use https"),
        ("ftp://client.example/meta.json", "client_id URL must use https"),
        (
            "https://client.example",
            "client_id URL must have a path (a site's root is not a client)",
        ),
        (
            "https://client.example/",
            "client_id URL must have a path (a site's root is not a client)",
        ),
        ("https://u:p@client.example/m", "client_id URL must not contain a user name or password"),
        ("https://client.example/m#x", "client_id URL must not contain a fragment"),
        ("https://client.example/a/../m", "client_id URL must not contain . or .. path segments"),
        ("https://client.example/a/%2e/m", "client_id URL must not contain . or .. path segments"),
        ("https://0x7f.1/meta.json", "client_id URL has an invalid host name"),
        ("https://exa_mple.com/meta.json", "client_id URL has an invalid host name"),
        ("https://client.example/\n", "client_id URL is not a valid URL"),
        ("https://client.example/" + "a" * 2048, "client_id URL is longer than 2048 characters"),
    ],
)
async def test_bad_urls_are_refused(url: str, expected: str) -> None:
    resolve = FixedResolver("127.0.0.1")
    assert await refused(url, allow_loopback=True, resolve=resolve) == expected
    assert resolve.asked == []


async def test_an_unresolvable_host_is_refused() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    message = await refused("https://nowhere.invalid/meta.json", resolve=fail)
    assert message == "client_id URL host nowhere.invalid does not resolve"


# --- the addresses ----------------------------------------------------------------------------

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),  # IPv6 ULA
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("168.63.129.16", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("2001:db8::1", "reserved"),
    ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::a00:1", "private"),  # IPv4-compatible 10.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
]


def shown(address: str) -> str:
    """How a refusal spells ``address`` (no scope; Python's form of IPv4-mapped addresses)."""
    return str(ipaddress.ip_address(address.split("%", 1)[0]))


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
async def test_names_resolving_to_forbidden_addresses_are_refused(address: str, kind: str) -> None:
    message = await refused("https://client.example/meta.json", resolve=FixedResolver(address))
    assert message == f"client_id URL resolves to a {kind} address ({shown(address)})"


@pytest.mark.parametrize(
    ("address", "kind"), [(a, k) for a, k in FORBIDDEN if "%" not in a and k != "loopback"]
)
async def test_forbidden_addresses_stay_forbidden_with_loopback_allowed(
    address: str, kind: str
) -> None:
    resolve = FixedResolver(address)
    url = "https://client.example/meta.json"
    message = await refused(url, allow_loopback=True, resolve=resolve)
    assert message == f"client_id URL resolves to a {kind} address ({shown(address)})"


@pytest.mark.parametrize(
    ("host", "address", "kind"),
    [
        ("10.0.0.1", "10.0.0.1", "private"),
        ("[fd00::1]", "fd00::1", "private"),
        ("[::ffff:a9fe:a9fe]", "::ffff:a9fe:a9fe", "cloud metadata"),
        ("100.64.1.1", "100.64.1.1", "shared (CGNAT)"),
        ("127.0.0.1", "127.0.0.1", "loopback"),
    ],
)
async def test_address_literals_are_checked_the_same_way(
    host: str, address: str, kind: str
) -> None:
    resolve = FixedResolver("127.0.0.1")
    message = await refused(f"https://{host}/meta.json", resolve=resolve)
    assert message == f"client_id URL names a {kind} address ({address})"
    assert resolve.asked == []


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    resolve = FixedResolver("93.184.216.34", "2606:2800:220:1::1", "10.0.0.7")
    message = await refused("https://client.example/meta.json", resolve=resolve)
    assert message == "client_id URL resolves to a private address (10.0.0.7)"


async def test_loopback_is_refused_unless_allowed(tls_server: TlsServer) -> None:
    tls_server.serve("/loopback.json", Document.json(CLIENT))
    url = tls_server.url("/loopback.json", host="localhost")
    resolve = FixedResolver("127.0.0.1")
    message = await refused(url, resolve=resolve)
    assert message == "client_id URL resolves to a loopback address (127.0.0.1)"
    assert tls_server.seen("/loopback.json") == []
    assert await fetch_client_metadata(url, allow_loopback=True, resolve=resolve) == CLIENT


async def test_an_unreachable_address_falls_back_to_the_next_checked_one(
    tls_server: TlsServer,
) -> None:
    # The server listens on 127.0.0.1 only; 127.0.0.2 refuses the connection.
    tls_server.serve("/fallback.json", Document.json(CLIENT))
    resolve = FixedResolver("127.0.0.2", "127.0.0.1")
    url = tls_server.url("/fallback.json", host=TEST_NAME)
    assert await fetch_client_metadata(url, allow_loopback=True, resolve=resolve) == CLIENT


async def test_a_refused_connection_is_reported() -> None:
    url = f"https://127.0.0.1:{tls.free_port()}/meta.json"
    assert await refused(url, allow_loopback=True) == "could not connect to 127.0.0.1"


# --- the answer -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_refused_not_followed(tls_server: TlsServer, status: int) -> None:
    tls_server.serve("/target.json", Document.json(CLIENT))
    tls_server.serve(
        f"/redirect-{status}.json", Document.redirect(tls_server.url("/target.json"), status)
    )
    message = await refused(tls_server.url(f"/redirect-{status}.json"), allow_loopback=True)
    assert message == f"client metadata URL redirects (HTTP {status}); redirects are not followed"
    assert tls_server.seen("/target.json") == []


async def test_error_statuses_are_refused(tls_server: TlsServer) -> None:
    message = await refused(tls_server.url("/missing.json"), allow_loopback=True)
    assert message == "client metadata document request answered HTTP 404"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_documents_are_refused(tls_server: TlsServer, chunked: bool) -> None:
    big = {**CLIENT, "padding": "x" * 6000}
    tls_server.serve(f"/big-{chunked}.json", Document.json(big, chunked=chunked))
    message = await refused(tls_server.url(f"/big-{chunked}.json"), allow_loopback=True)
    assert message == "client metadata document larger than 5120 bytes"


async def test_the_size_limit_is_configurable(tls_server: TlsServer) -> None:
    tls_server.serve("/limit.json", Document.json(CLIENT))
    url = tls_server.url("/limit.json")
    message = await refused(url, allow_loopback=True, max_bytes=20)
    assert message == "client metadata document larger than 20 bytes"


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [("text/html; charset=utf-8", "text/html; charset=utf-8"), ("", "none")],
)
async def test_non_json_media_types_are_refused(
    tls_server: TlsServer, content_type: str, shown: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    tls_server.serve("/html", Document(headers=headers, body=b"<html></html>"))
    message = await refused(tls_server.url("/html"), allow_loopback=True)
    assert message == f"client metadata document is not JSON (Content-Type: {shown})"


async def test_compressed_documents_are_refused(tls_server: TlsServer) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    tls_server.serve("/gzip.json", Document(headers=headers, body=b"\x1f\x8b"))
    message = await refused(tls_server.url("/gzip.json"), allow_loopback=True)
    assert message == "client metadata document must not be compressed"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[1, 2]", "client metadata document is not a JSON object"),
        (b'"client"', "client metadata document is not a JSON object"),
        (b"null", "client metadata document is not a JSON object"),
        (b"{not json", "client metadata document is not valid JSON"),
        (b'{"a": NaN}', "client metadata document is not valid JSON"),
        (b"\xff\xfe{}", "client metadata document is not valid JSON"),
        (b"[" * 5000, "client metadata document is not valid JSON"),
    ],
    ids=["array", "string", "null", "broken", "nan", "bad-utf", "deep"],
)
async def test_bodies_that_are_not_json_objects_are_refused(
    tls_server: TlsServer, body: bytes, expected: str, request: pytest.FixtureRequest
) -> None:
    path = f"/body-{request.node.callspec.id}.json"
    tls_server.serve(path, Document(body=body))
    assert await refused(tls_server.url(path), allow_loopback=True) == expected


# --- the deadline -----------------------------------------------------------------------------

TIMEOUT = 1.0
# The deadline must end the fetch well before twice the timeout, even on a loaded machine.
BOUND = 2 * TIMEOUT - 0.1


async def test_a_stalled_server_hits_the_deadline(tls_server: TlsServer) -> None:
    tls_server.serve("/stall.json", Document.json(CLIENT, stall=True))
    started = time.monotonic()
    message = await refused(tls_server.url("/stall.json"), allow_loopback=True, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert message == "client metadata document did not arrive within 1 s"
    assert TIMEOUT * 0.9 <= elapsed < BOUND


async def test_a_trickling_body_hits_the_deadline_not_a_per_read_timeout(
    tls_server: TlsServer,
) -> None:
    # A byte every 0.2 s never trips a per-read timeout of 1 s; the whole-fetch deadline does.
    tls_server.serve("/trickle.json", Document.json(CLIENT, trickle=0.2))
    started = time.monotonic()
    message = await refused(tls_server.url("/trickle.json"), allow_loopback=True, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert message == "client metadata document did not arrive within 1 s"
    assert TIMEOUT * 0.9 <= elapsed < BOUND
    assert len(tls_server.seen("/trickle.json")) == 1


async def test_a_slow_resolver_counts_against_the_deadline() -> None:
    async def never(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return []

    started = time.monotonic()
    message = await refused("https://client.example/m", resolve=never, timeout=0.5)
    assert message == "client metadata document did not arrive within 0.5 s"
    assert time.monotonic() - started < 1.4
