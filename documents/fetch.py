"""Fetch a document from an http(s) URL without letting the URL reach inside the network.

The connection goes through requests-hardened, which resolves the host once, refuses private
and loopback addresses and connects to exactly the address it checked (no DNS rebinding
between check and connect). On top of it every hop (redirects are followed here, one at a
time) is checked again against a stricter policy: only globally routable unicast addresses,
so loopback, private, link-local, CGNAT (100.64.0.0/10), multicast, reserved, unspecified
and their IPv6 and IPv4-mapped forms are refused; hosts written as unusual IP spellings
(``2130706433``, ``0177.0.0.1``, ``0x7f.1``) are refused outright; credentials in URLs are
refused. The body is read in pieces and abandoned once it passes the size cap or the time
budget.

``settings.DOCUMENTS_FETCH_ALLOWLIST`` lists ``host:port`` pairs exempt from the address
policy (loopback only, as the library still refuses private ranges); it is empty in every
deployment and used by the tests to reach their local HTTP server.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from email.message import Message
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import requests
from django.conf import settings
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from documents.engines.errors import DocumentRejected, DocumentTooLarge

__all__ = ["FetchFailed", "FetchUnavailable", "Fetched", "UnsafeUrl", "check_url", "fetch_url"]

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
USER_AGENT = "Casework document fetcher"
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeUrl(DocumentRejected):
    """The URL is not one the server may fetch: bad scheme, blocked address, bad redirect."""

    code = "unsafe_url"


class FetchFailed(DocumentRejected):
    """The server answered, but not with a document (4xx, empty...): retrying won't help."""

    code = "fetch_failed"


class FetchUnavailable(Exception):
    """The fetch failed in a way that may pass: timeout, connection error, 5xx, 429."""


@dataclass(frozen=True)
class Fetched:
    url: str
    content: bytes
    content_type: str
    filename: str


def check_url(url: str) -> str:
    """Return ``url`` if its form is fetchable; raise ``UnsafeUrl`` saying why not.

    Only the form is checked here (no DNS); the address is checked when connecting.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Only http and https URLs can be fetched.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("URLs with credentials are not fetched.")
    if _allowlisted(host, port or _default_port(parts.scheme)):
        return url
    address = _literal_address(host)
    if address is not None:
        check_address(address)
    return url


def check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    """Raise ``UnsafeUrl`` unless ``address`` is a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour or _nat64(address)
        if mapped is not None:
            check_address(mapped)
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (address.version == 4 and address in _CGNAT)
    ):
        raise UnsafeUrl(f"The URL resolves to a blocked address ({address}).")


def fetch_url(url: str) -> Fetched:
    """Return the body of ``url`` after following at most MAX_REDIRECTS checked redirects.

    Raises ``UnsafeUrl`` or ``FetchFailed`` (permanent), ``DocumentTooLarge`` past
    DOCUMENTS_FETCH_MAX_BYTES, or ``FetchUnavailable`` (worth retrying).
    """
    timeout = float(settings.DOCUMENTS_FETCH_TIMEOUT)
    deadline = time.monotonic() + timeout
    current = url
    with _session(timeout) as session:
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(current)
            response = _get(session, current)
            with response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                _check_status(response)
                content = _read_capped(response, deadline, timeout)
                return Fetched(
                    url=current,
                    content=content,
                    content_type=response.headers.get("content-type", ""),
                    filename=_filename(response, current),
                )
    raise UnsafeUrl(f"More than {MAX_REDIRECTS} redirects.")


class _PolicyAdapter(IPFilterAdapter):
    """requests-hardened's pinning adapter plus this module's stricter address policy."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        parts = urlsplit(request.url)
        port = parts.port or _default_port(parts.scheme)
        # The library may let loopback through only when the allowlist could name it; the
        # pinned address is then checked against the allowlist and the policy below.
        self._allow_loopback = bool(settings.DOCUMENTS_FETCH_ALLOWLIST)
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pinned = host_params["host"].strip("[]")
        if not (_allowlisted(parts.hostname or "", port) or _allowlisted(pinned, port)):
            check_address(ipaddress.ip_address(pinned))
        return host_params, pool_kwargs


def _session(timeout: float) -> HTTPSession:
    config = Config(
        ip_filter_enable=True,
        ip_filter_allow_loopback_ips=False,
        never_redirect=True,
        default_timeout=(min(timeout, 10.0), timeout),
        user_agent_override=USER_AGENT,
    )
    session = HTTPSession(config)
    session.trust_env = False  # never through a proxy from the environment
    session.mount("http://", _PolicyAdapter(is_https_proto=False))
    session.mount("https://", _PolicyAdapter(is_https_proto=True))
    return session


def _get(session: HTTPSession, url: str) -> requests.Response:
    try:
        return session.get(url, stream=True, allow_redirects=False)
    except InvalidIPAddress as exc:
        raise UnsafeUrl(f"The URL resolves to a blocked address ({exc}).") from None
    except UnsafeUrl:
        raise
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise FetchUnavailable(f"Could not reach {urlsplit(url).netloc}: {exc}") from None
    except requests.RequestException as exc:
        raise FetchFailed(f"The URL could not be fetched: {exc}.") from None


def _check_status(response: requests.Response) -> None:
    code = response.status_code
    if code == 429 or code >= 500:
        raise FetchUnavailable(f"The server answered {code}; try again later.")
    if code >= 300:
        raise FetchFailed(f"The server answered {code} {response.reason or ''}".strip() + ".")


def _read_capped(response: requests.Response, deadline: float, timeout: float) -> bytes:
    limit = int(settings.DOCUMENTS_FETCH_MAX_BYTES)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(f"The document is {declared} bytes; the limit is {limit} bytes.")
    body = bytearray()
    try:
        for piece in response.iter_content(CHUNK_BYTES):
            body += piece
            if len(body) > limit:
                raise DocumentTooLarge(f"The document is over the limit of {limit} bytes.")
            if time.monotonic() > deadline:
                raise FetchUnavailable(f"The download took longer than {timeout:g} s.")
    except requests.RequestException as exc:
        raise FetchUnavailable(f"The download was interrupted: {exc}") from None
    return bytes(body)


def _filename(response: requests.Response, url: str) -> str:
    """Return a display name for the document: Content-Disposition's, else the URL's last part."""
    disposition = response.headers.get("content-disposition", "")
    name = ""
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename() or ""
    if not name:
        name = unquote(PurePosixPath(urlsplit(url).path).name)
    name = PurePosixPath(name.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] or urlsplit(url).hostname or "download"


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return the address a host names literally, None for a name; refuse odd spellings.

    ``inet_aton`` reads ``2130706433``, ``0177.0.0.1`` and ``0x7f.1`` as 127.0.0.1; a host
    made only of such numeric labels that is not a plain dotted quad is refused.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if all(_NUMERIC_LABEL.match(label) for label in labels):
        raise UnsafeUrl(f"The host {host!r} is an unusual spelling of an IP address.")
    return None


def _nat64(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _allowlisted(host: str, port: int) -> bool:
    allowlist = settings.DOCUMENTS_FETCH_ALLOWLIST
    if not allowlist:
        return False
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" in allowlist
