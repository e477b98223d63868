"""A lean closed-loop HTTP/1.1 load client for the benchmarks: N keep-alive connections on one
asyncio loop, each sending its next request when the previous answer has been read.

Why not `requests` in N threads: on the benchmark's two cores, twenty Python threads with
`requests` spent a few milliseconds of CPU per call (and fought over the GIL) on the same cores
as the server, inflating the latencies they measured. This client writes the request bytes and
parses the status line and Content-Length itself (~0.1 ms of CPU per call), so what it measures
is the server. It is still real: real sockets, a real server, N requests in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    """Latency of every request in milliseconds (whatever its answer), the statuses, and apart:

    - conflicts: 409 answers. The object is no longer in a state that allows the request (an
      operator decided first, a newer health check superseded the decision): a correct answer
      from a correct server, so neither a success nor an error;
    - errors: everything else that is not 2xx — 5xx, timeouts, dropped connections, unexpected
      statuses (4xx other than 409, 429 included) — with the first few answers, to say why.
    """

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    conflicts: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    conflict_samples: list[str] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes, timeout: float) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        return await asyncio.wait_for(self._response(self.reader), timeout)

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:  # no length: the server closes the connection after the body
            body = await reader.read()
            await self.close()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


def _request(method: str, host: str, path: str, token: str, payload: bytes) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def _run(
    method: str,
    base: str,
    token: str,
    paths: Iterable[str],
    clients: int,
    body: object,
    timeout: float,
) -> LoadResult:
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    payload = b"" if body is None else json.dumps(body).encode()
    pending: Iterator[str] = iter(paths)
    result = LoadResult()

    async def client() -> None:
        connection = _Connection(host, port)
        for path in pending:  # shared iterator: each path is sent once, by whichever is free
            started = time.perf_counter()
            answer = b""
            try:
                status, answer = await connection.request(
                    _request(method, url.netloc, path, token, payload), timeout
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status = 0  # counted as an error, not fatal; the next request reconnects
                await connection.close()
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                continue
            if status == 409:
                result.conflicts += 1
                samples = result.conflict_samples
            else:
                result.errors += 1
                samples = result.error_samples
            if len(samples) < 5:
                samples.append(f"{path} -> {status} {answer[:200].decode('utf-8', 'replace')}")
        await connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return result


def _run_blocking(coroutine: Any) -> Any:
    """`asyncio.run(coroutine)`, in a thread of its own when this thread already runs an event
    loop (pytest-playwright's sync API leaves one running in the test process)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="http-client")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def post_closed_loop(
    base: str,
    token: str,
    paths: Iterable[str],
    *,
    clients: int,
    body: object = None,
    timeout: float = 30.0,
) -> LoadResult:
    """POST `body` (JSON, `{}` by default) to every path with `clients` requests in flight."""
    body = {} if body is None else body
    return _run_blocking(_run("POST", base, token, paths, clients, body, timeout))


def get_closed_loop(
    base: str, token: str, paths: Iterable[str], *, clients: int, timeout: float = 30.0
) -> LoadResult:
    """GET every path with `clients` requests in flight (e.g. to warm a server up)."""
    return _run_blocking(_run("GET", base, token, paths, clients, None, timeout))
