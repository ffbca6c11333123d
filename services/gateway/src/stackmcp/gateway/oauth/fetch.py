"""Fetching OAuth Client ID Metadata Documents (CIMD) safely.

A CIMD ``client_id`` is an https URL chosen by whoever starts an authorization, so fetching it is
an outbound request on a stranger's behalf: a server-side request forgery risk. The guard:

* the URL is https, has no user info or fragment, names a non-root path without dot segments;
* every address the host resolves to (or the literal address it names) must be public: no
  loopback, private, CGNAT, link-local, multicast, reserved or unspecified address, no cloud
  metadata address, and no IPv4-mapped, IPv4-compatible, 6to4, Teredo or NAT64 form of one.
  Loopback is allowed only with ``allow_loopback`` (tests);
* the connection goes to a checked address (no second lookup an attacker's DNS could answer
  differently), while TLS is verified against the host name, which is also sent as SNI and Host;
* no redirects, no proxies from the environment, ``timeout`` is one deadline for the whole
  fetch (resolution, connection, headers and body), the body is cut at ``max_bytes``, it must be
  sent uncompressed as ``application/json`` (or ``+json``) and be a JSON object.

TLS trusts the default store (certifi), or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set.
Usage::

    try:
        document = await fetch_client_metadata(client_id, allow_loopback=config.allow_loopback)
    except ClientMetadataError as error:
        refuse(error.message)

Checking the document's fields (``client_id`` equal to the URL, redirect URIs) is the caller's.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import os
import re
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

__all__ = ["ClientMetadataError", "Resolver", "fetch_client_metadata"]

logger = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Resolves ``(host, port)`` to IP address strings, like :func:`socket.getaddrinfo`."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")

_METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, ...
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure wire server: a public-looking address that reaches the host
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# Special-purpose ranges spelled out, so the verdict does not depend on which Python patch
# release's ipaddress tables are installed.
_RESERVED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "240.0.0.0/4",
        "::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
        "fec0::/10",
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


class ClientMetadataError(Exception):
    """A client metadata document could not be used; ``message`` says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Unreachable(ClientMetadataError):
    """No connection to this address; another resolved address may still answer."""


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    literal: IPAddress | None
    port: int


async def fetch_client_metadata(
    url: str,
    *,
    allow_loopback: bool = False,
    timeout: float = 5.0,
    max_bytes: int = 5120,
    resolve: Resolver | None = None,
) -> dict[str, Any]:
    """Fetch the client metadata document at ``url`` and return it as a JSON object.

    ``timeout`` (seconds) bounds the whole fetch; ``max_bytes`` bounds the body; ``resolve``
    replaces the system resolver (tests). Raises :class:`ClientMetadataError`.
    """
    try:
        async with asyncio.timeout(timeout):
            document, size = await _fetch(url, allow_loopback, timeout, max_bytes, resolve)
    except TimeoutError:
        error = _deadline(timeout)
        logger.info("client metadata %.200r refused: %s", url, error.message)
        raise error from None
    except ClientMetadataError as error:
        logger.info("client metadata %.200r refused: %s", url, error.message)
        raise
    logger.info("client metadata %.200r fetched (%d bytes)", url, size)
    return document


async def _fetch(
    url: str, allow_loopback: bool, timeout: float, max_bytes: int, resolve: Resolver | None
) -> tuple[dict[str, Any], int]:
    target = _parse(url)
    addresses = await _checked_addresses(target, resolve or _getaddrinfo, allow_loopback)
    body = await _download(target, addresses, timeout, max_bytes)
    return _parse_document(body), len(body)


def _parse(url: str) -> _Target:
    if len(url) > MAX_URL_LENGTH:
        raise ClientMetadataError(f"client_id URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ClientMetadataError("client_id URL is not a valid URL") from None
    if parsed.scheme != "https":
        raise ClientMetadataError("client_id URL must use https")
    if parsed.userinfo:
        raise ClientMetadataError("client_id URL must not contain a user name or password")
    if parsed.fragment or "#" in url:
        raise ClientMetadataError("client_id URL must not contain a fragment")
    _check_path(url)
    host, literal = _host(parsed)
    return _Target(url=parsed, host=host, literal=literal, port=parsed.port or 443)


def _check_path(url: str) -> None:
    # httpx normalises dot segments away, so they are looked for in the URL as written.
    path = urllib.parse.urlsplit(url).path
    if path in ("", "/"):
        raise ClientMetadataError("client_id URL must have a path (a site's root is not a client)")
    segments = urllib.parse.unquote(path).split("/")
    if "." in segments or ".." in segments:
        raise ClientMetadataError("client_id URL must not contain . or .. path segments")


def _host(parsed: httpx.URL) -> tuple[str, IPAddress | None]:
    try:
        return parsed.host, ipaddress.ip_address(parsed.host)
    except ValueError:
        pass
    name = parsed.raw_host.decode("ascii").lower()
    labels = name.removesuffix(".").split(".")
    # A dotted name ending in a number is an IPv4 address in another spelling (0x7f.1).
    if not all(_LABEL.match(label) for label in labels) or _NUMERIC_LABEL.match(labels[-1]):
        raise ClientMetadataError("client_id URL has an invalid host name")
    return name, None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def _checked_addresses(
    target: _Target, resolve: Resolver, allow_loopback: bool
) -> list[IPAddress]:
    if target.literal is not None:
        addresses, verb = [target.literal], "names"
    else:
        addresses, verb = await _resolve(target, resolve), "resolves to"
    for address in addresses:
        kind = _forbidden_kind(address, allow_loopback)
        if kind is not None:
            raise ClientMetadataError(f"client_id URL {verb} a {kind} address ({address})")
    return addresses


async def _resolve(target: _Target, resolve: Resolver) -> list[IPAddress]:
    try:
        found = await resolve(target.host, target.port)
    except (OSError, UnicodeError):
        found = []
    addresses: list[IPAddress] = []
    for text in found:
        # A scope (fe80::1%eth0) does not change what kind of address it is.
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ClientMetadataError(f"client_id URL host {target.host} does not resolve")
    return addresses


def _forbidden_kind(address: IPAddress, allow_loopback: bool) -> str | None:  # noqa: PLR0911
    """What makes ``address`` unfit to fetch from, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # the very same IPv4 host
    if address in _METADATA:
        return "cloud metadata"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    embedded = _embedded_ipv4(address)
    if embedded is not None and (kind := _forbidden_kind(embedded, allow_loopback=False)):
        return kind
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "shared (CGNAT)"
    if any(address in net for net in _PRIVATE):
        return "private"
    if address.is_private or address.is_reserved or not address.is_global:
        return "reserved"
    if any(address in net for net in _RESERVED):
        return "reserved"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form (6to4, Teredo, NAT64, compatible) leads to."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


async def _download(
    target: _Target, addresses: list[IPAddress], timeout: float, max_bytes: int
) -> bytes:
    # trust_env=False keeps proxies and .netrc out; the trust store still honours SSL_CERT_FILE.
    ssl_context = _trust_store(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    async with httpx.AsyncClient(
        verify=ssl_context, trust_env=False, follow_redirects=False, timeout=timeout
    ) as client:
        unreachable = _Unreachable(f"could not connect to {target.host}")
        for address in addresses:
            try:
                return await _download_from(client, target, address, timeout, max_bytes)
            except _Unreachable as error:
                logger.info("client metadata host %s unreachable at %s", target.host, address)
                unreachable = error
        raise unreachable


@functools.lru_cache(maxsize=4)
def _trust_store(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The default trust store; the arguments (what httpx reads) only key the cache."""
    # Loading a CA bundle takes milliseconds of blocking I/O: once per setting, not per fetch.
    return httpx.create_ssl_context(trust_env=True)


async def _download_from(
    client: httpx.AsyncClient, target: _Target, address: IPAddress, timeout: float, max_bytes: int
) -> bytes:
    """GET the document from ``address`` (pinned), presenting ``target.host`` as SNI and Host."""
    request = client.build_request(
        "GET",
        target.url.copy_with(host=str(address)),
        headers={
            "Host": target.url.netloc.decode("ascii"),
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": "stackmcp-gateway (OAuth client metadata)",
        },
        extensions={"sni_hostname": target.host},
    )
    try:
        response = await client.send(request, stream=True)
        try:
            _check_response(response, max_bytes)
            return await _read_body(response, max_bytes)
        finally:
            await response.aclose()
    except httpx.HTTPError as error:
        raise _http_error(target, error, timeout) from None


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if 300 <= status < 400:
        raise ClientMetadataError(
            f"client metadata URL redirects (HTTP {status}); redirects are not followed"
        )
    if status != 200:
        raise ClientMetadataError(f"client metadata document request answered HTTP {status}")
    content_type = response.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        shown = content_type[:80] or "none"
        raise ClientMetadataError(f"client metadata document is not JSON (Content-Type: {shown})")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ClientMetadataError("client metadata document must not be compressed")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _parse_document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: a few KiB of "[" nest too deep
        raise ClientMetadataError("client metadata document is not valid JSON") from None
    if not isinstance(document, dict):
        raise ClientMetadataError("client metadata document is not a JSON object")
    return document


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _http_error(target: _Target, error: httpx.HTTPError, timeout: float) -> ClientMetadataError:
    if isinstance(error, httpx.TimeoutException):
        return _deadline(timeout)
    tls = _tls_failure(error)
    if isinstance(tls, ssl.SSLCertVerificationError):
        reason = tls.verify_message or "not trusted"
        return ClientMetadataError(
            f"the TLS certificate of {target.host} could not be verified ({reason})"
        )
    if tls is not None:
        return ClientMetadataError(f"the TLS handshake with {target.host} failed")
    if isinstance(error, httpx.ConnectError):
        return _Unreachable(f"could not connect to {target.host}")
    return ClientMetadataError(
        f"client metadata document could not be fetched from {target.host} ({type(error).__name__})"
    )


def _tls_failure(error: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _deadline(timeout: float) -> ClientMetadataError:
    return ClientMetadataError(f"client metadata document did not arrive within {timeout:g} s")


def _too_large(max_bytes: int) -> ClientMetadataError:
    return ClientMetadataError(f"client metadata document larger than {max_bytes} bytes")
