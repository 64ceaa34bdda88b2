"""A minimal, bounded HTTP/1.1 load loop on asyncio streams (no dependency to pin).

`concurrency` clients each send one request at a time over a keep-alive connection (opened
again when the server closes it, as gunicorn's sync workers do), for `duration` seconds after
a short warm-up. Raw streams rather than an HTTP library: on a 2-core machine the load
generator competes with the server for CPU, so it must cost as little per request as possible.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import percentile


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "rps": round(self.rps, 1),
            "elapsed_s": round(self.elapsed, 3),
            "p50_ms": round(percentile(self.latencies_ms, 50), 2),
            "p99_ms": round(percentile(self.latencies_ms, 99), 2),
        }


def build_request(method: str, path: str, *, headers: dict, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server keeps the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, keep = None, False, lines[0].startswith("HTTP/1.1")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection":
            keep = value == "keep-alive" or (keep and value != "close")
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep = False
    return status, keep


async def _client(port, make_request, result, record_after, stop_at, lock_first):
    reader = writer = None
    while time.monotonic() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.monotonic()
            writer.write(make_request())
            status, keep = await _read_response(reader)
            ended = time.monotonic()
            if started >= record_after:
                result.latencies_ms.append((ended - started) * 1000)
                result.statuses[status] = result.statuses.get(status, 0) + 1
            if not keep:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.errors += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run_load(
    port: int,
    make_request: Callable[[], bytes],
    *,
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
) -> LoadResult:
    result = LoadResult()
    start = time.monotonic()
    record_after = start + warmup
    stop_at = record_after + duration
    await asyncio.gather(
        *(
            _client(port, make_request, result, record_after, stop_at, None)
            for _ in range(concurrency)
        )
    )
    result.elapsed = time.monotonic() - record_after
    return result


def load(port: int, make_request, *, concurrency: int, duration: float, warmup: float = 1.0):
    return asyncio.run(
        run_load(port, make_request, concurrency=concurrency, duration=duration, warmup=warmup)
    )
