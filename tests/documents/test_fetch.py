"""SSRF-safe fetching against a local HTTP server that only these tests allowlist."""

import ipaddress
import time

import pytest
from werkzeug.wrappers import Response

from documents.engines.errors import DocumentTooLarge
from documents.fetch import (
    FetchFailed,
    FetchUnavailable,
    UnsafeUrl,
    check_address,
    check_url,
    fetch_url,
)


@pytest.fixture
def allowed(settings, httpserver):
    """Allowlist exactly the test server's address and port."""
    settings.DOCUMENTS_FETCH_ALLOWLIST = [f"127.0.0.1:{httpserver.port}"]
    return httpserver


def test_an_allowlisted_server_is_fetched_with_its_file_name(allowed):
    allowed.expect_request("/files/42").respond_with_data(
        "合同全文", headers={"Content-Disposition": 'attachment; filename="contract.txt"'}
    )
    fetched = fetch_url(allowed.url_for("/files/42"))
    assert fetched.content == "合同全文".encode()
    assert fetched.filename == "contract.txt"
    assert fetched.url == allowed.url_for("/files/42")


def test_loopback_is_refused_without_the_allowlist(httpserver):
    httpserver.expect_request("/").respond_with_data("secret")
    with pytest.raises(UnsafeUrl, match=r"blocked address \(127\.0\.0\.1\)"):
        fetch_url(httpserver.url_for("/"))
    assert httpserver.log == []  # refused before connecting


def test_localhost_by_name_is_refused_after_resolution(httpserver):
    httpserver.expect_request("/").respond_with_data("secret")
    with pytest.raises(UnsafeUrl, match="blocked address"):
        fetch_url(f"http://localhost:{httpserver.port}/")
    assert httpserver.log == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://100.64.0.1/",
        "http://127.0.0.1:1/",  # loopback on a port the allowlist does not name
    ],
)
def test_a_redirect_to_a_blocked_address_is_refused(allowed, target):
    allowed.expect_request("/go").respond_with_data("", status=302, headers={"Location": target})
    with pytest.raises(UnsafeUrl):
        fetch_url(allowed.url_for("/go"))


def test_every_redirect_hop_is_followed_and_checked(allowed):
    allowed.expect_request("/a").respond_with_data("", status=301, headers={"Location": "/b"})
    allowed.expect_request("/b").respond_with_data(
        "", status=307, headers={"Location": allowed.url_for("/c")}
    )
    allowed.expect_request("/c").respond_with_data("final")
    fetched = fetch_url(allowed.url_for("/a"))
    assert (fetched.content, fetched.url) == (b"final", allowed.url_for("/c"))
    assert [request.path for request, _ in allowed.log] == ["/a", "/b", "/c"]


def test_a_redirect_loop_stops(allowed):
    allowed.expect_request("/loop").respond_with_data("", status=302, headers={"Location": "/loop"})
    with pytest.raises(UnsafeUrl, match="More than 5 redirects"):
        fetch_url(allowed.url_for("/loop"))
    assert len(allowed.log) == 6


def test_a_redirect_to_another_scheme_is_refused(allowed):
    allowed.expect_request("/f").respond_with_data(
        "", status=302, headers={"Location": "file:///etc/passwd"}
    )
    with pytest.raises(UnsafeUrl, match="Only http and https"):
        fetch_url(allowed.url_for("/f"))


def test_a_declared_length_over_the_cap_is_refused(allowed, settings):
    settings.DOCUMENTS_FETCH_MAX_BYTES = 100
    allowed.expect_request("/big").respond_with_data(b"x" * 1000)
    with pytest.raises(DocumentTooLarge, match="1000 bytes; the limit is 100"):
        fetch_url(allowed.url_for("/big"))


def test_a_streamed_body_is_cut_at_the_cap(allowed, settings):
    settings.DOCUMENTS_FETCH_MAX_BYTES = 100_000

    def endless(request):
        return Response((b"y" * 65536 for _ in range(1000)), content_type="text/plain")

    allowed.expect_request("/stream").respond_with_handler(endless)
    with pytest.raises(DocumentTooLarge, match="over the limit of 100000 bytes"):
        fetch_url(allowed.url_for("/stream"))


def test_a_slow_body_is_abandoned_at_the_time_budget(allowed, settings):
    settings.DOCUMENTS_FETCH_TIMEOUT = 0.5

    def slow(request):
        def body():
            for _ in range(10):
                time.sleep(0.2)
                yield b"z" * 10

        return Response(body(), content_type="text/plain")

    allowed.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(FetchUnavailable, match="longer than 0.5 s"):
        fetch_url(allowed.url_for("/slow"))


def test_client_errors_are_permanent_and_server_errors_transient(allowed):
    allowed.expect_request("/gone").respond_with_data("", status=404)
    allowed.expect_request("/down").respond_with_data("", status=502)
    with pytest.raises(FetchFailed, match="404"):
        fetch_url(allowed.url_for("/gone"))
    with pytest.raises(FetchUnavailable, match="502"):
        fetch_url(allowed.url_for("/down"))


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f.0.0.1/",
        "http://0/",
    ],
)
def test_unusual_ip_spellings_are_refused_outright(url):
    with pytest.raises(UnsafeUrl, match="unusual spelling"):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a", "gopher://example.com/", "http://user:pw@example.com/", "http:///x"],
)
def test_urls_of_the_wrong_form_are_refused(url):
    with pytest.raises(UnsafeUrl):
        check_url(url)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
    ],
)
def test_non_public_addresses_are_blocked(address):
    with pytest.raises(UnsafeUrl, match="blocked address"):
        check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    check_address(ipaddress.ip_address(address))
