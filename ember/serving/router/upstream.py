"""The router's side of the worker connection: instances, their slots, and a keep-alive client.

An :class:`Instance` is one worker ("host:port"). It counts the requests in flight to it, holds
the per-instance concurrency limit of its deployment, a LIFO pool of idle keep-alive connections
and a queue of requests waiting for a free slot. Everything here runs on the router's event loop
thread only, so plain integers and deques need no lock.

:func:`exchange` is a deliberately small HTTP/1.1 client on asyncio streams: one request with a
``Content-Length`` body, then the status line, headers and a ``Content-Length`` (or chunked, or
read-to-close) body; or, for a language model's event stream, a :class:`Stream` read chunk by
chunk. httpx costs several hundred microseconds per call; this costs tens.

    UpstreamError
    ├── Unreachable      no byte of a response was read: safe to try another instance
    └── BrokenResponse   the connection failed part-way through the response
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Sequence

_MAX_IDLE = 64          # idle keep-alive connections kept per instance
_HEAD_LIMIT = 1 << 16   # status line + headers
_SMALL_BODY = 1 << 16   # below this the head and body go out in one write


class UpstreamError(Exception):
    """A worker exchange that produced no usable response."""


class Unreachable(UpstreamError):
    """Connect refused/failed, or the connection closed before any response byte arrived."""


class BrokenResponse(UpstreamError):
    """The worker started a response and the connection failed before it ended."""


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Instance:
    """One worker process as the router sees it.

    ``addr`` is ``host:port`` (a local worker), or ``host:port/<path>#<n>``: the ``n``-th
    replica of a Ray Serve app behind Serve's HTTP proxy, whose requests go to ``/<path>/...``
    (``ray_serve.py``); ``#<n>`` only tells the replicas apart, each with its own slots.
    """

    __slots__ = ("addr", "host", "port", "host_header", "path", "in_flight", "limit",
                 "retired", "stalled", "_idle", "_waiters")

    def __init__(self, addr: str) -> None:
        hostport, slash, rest = addr.partition("/")
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"instance {addr!r} is not host:port")
        path = rest.partition("#")[0].strip("/")
        if slash and (not path or not path.isascii() or any(c in path for c in " ?%\r\n")):
            raise ValueError(f"instance {addr!r}: the path after host:port is not a plain one")
        self.addr = addr
        self.host = host[1:-1] if host.startswith("[") else host
        self.port = int(port)
        self.host_header = hostport.encode("ascii")
        self.path = f"/{path}".encode("ascii") if path else b""
        self.in_flight = 0
        self.limit = 1
        self.retired = False
        # A request to it timed out: probably a run() that will never return. No request is
        # sent to it until its liveness answer says run() can be entered (see stall()).
        self.stalled = False
        self._idle: list[_Conn] = []
        self._waiters: deque[asyncio.Future[Instance | None]] = deque()

    # -- slots -----------------------------------------------------------------------------------

    def release(self) -> None:
        """Give back one slot: hand it straight to the oldest live waiter, if any."""
        self.in_flight -= 1
        self._hand_off()
        if self.retired and self.in_flight == 0:
            self.close_idle()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._hand_off()   # a raised limit frees slots for requests already waiting

    def _hand_off(self) -> None:
        # The slot moves to the waiter without passing through "free", so a request arriving
        # now cannot overtake requests that have queued.
        waiters = self._waiters
        while waiters and self.in_flight < self.limit and not self.retired \
                and not self.stalled:
            fut = waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(self)

    def stall(self) -> bool:
        """Set the instance aside; False when it already was (someone is watching it)."""
        if self.stalled:
            return False
        self.stalled = True
        return True

    def unstall(self) -> None:
        self.stalled = False
        self._hand_off()   # requests that queued meanwhile may have it now

    def retire(self) -> None:
        """The instance left the routing table; close its pool once nothing is in flight."""
        self.retired = True
        self.stalled = False
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)   # the waiter looks again, at the new table
        self._waiters.clear()
        if self.in_flight == 0:
            self.close_idle()

    # -- connections -----------------------------------------------------------------------------

    def take_idle(self) -> _Conn | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn[1].is_closing() and not conn[0].at_eof():
                return conn
            conn[1].close()
        return None

    def put_idle(self, conn: _Conn) -> None:
        if self.retired or len(self._idle) >= _MAX_IDLE:
            conn[1].close()
        else:
            self._idle.append(conn)

    def close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for _reader, writer in idle:
            writer.close()


def request_line(inst: Instance, prefix: bytes) -> bytes:
    """``prefix`` (``METHOD /target ...``) with the instance's path before the target."""
    if not inst.path:
        return prefix
    method, _, rest = prefix.partition(b" ")
    return method + b" " + inst.path + rest


def pick(instances: Sequence[Instance], start: int, exclude: Instance | None = None
         ) -> Instance | None:
    """The instance with the fewest requests in flight and a free slot (ties rotate by start)."""
    best: Instance | None = None
    best_n = 1 << 62
    n = len(instances)
    for i in range(n):
        inst = instances[(start + i) % n]
        f = inst.in_flight
        if f < best_n and f < inst.limit and inst is not exclude and not inst.retired \
                and not inst.stalled:
            best, best_n = inst, f
    if best is not None:
        best.in_flight += 1
    return best


async def acquire(instances: Sequence[Instance], start: int, wait_s: float,
                  exclude: Instance | None = None) -> Instance | None:
    """Take a slot on one of ``instances``, waiting up to ``wait_s`` for one to free up.

    None when the wait ran out, or when an instance waited on left the table (the caller looks
    at the new table and may wait again), or at once when every instance has left it.
    """
    inst = pick(instances, start, exclude)
    candidates = [i for i in instances if i is not exclude and not i.retired]
    if inst is not None or wait_s <= 0 or not candidates:
        return inst
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Instance | None] = loop.create_future()
    for candidate in candidates:
        candidate._waiters.append(fut)
    timer = loop.call_later(wait_s, _expire, fut)
    try:
        return await fut
    except asyncio.CancelledError:
        if fut.done() and not fut.cancelled():
            granted = fut.result()
            if granted is not None:
                granted.release()   # a slot handed over just as we were cancelled
        raise
    finally:
        timer.cancel()


def _expire(fut: asyncio.Future[Instance | None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def is_live(inst: Instance, timeout: float = 1.0) -> bool:
    """Whether the worker's liveness route (``GET /``) answers 200 now, on a fresh connection."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(inst.host, inst.port)
            writer.write(b"GET " + inst.path + b"/ HTTP/1.1\r\nHost: " + inst.host_header +
                         b"\r\nConnection: close\r\n\r\n")
            line = await reader.readline()
        return line.split(b" ", 2)[1:2] == [b"200"]
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
        return False
    finally:
        if writer is not None:
            writer.close()


# -- the HTTP/1.1 exchange -----------------------------------------------------------------------

class _Stale(Exception):
    """The connection died before any response byte: the request can be sent again."""


Reply = tuple[int, bytes, bytes, bytes | None]   # status, content type, body, x-ember-usage


class Stream:
    """An event stream being answered (``text/event-stream``, chunked): read it one chunk at a
    time with :meth:`next_chunk`. The connection goes back to the pool after the terminating
    chunk; :meth:`abort` closes it (the worker sees its client gone and stops generating)."""

    __slots__ = ("inst", "status", "ctype", "usage", "ended", "_reader", "_writer", "_close")

    def __init__(self, inst: Instance, conn: _Conn, status: int, ctype: bytes,
                 usage: bytes | None, close: bool) -> None:
        self.inst = inst
        self.status = status
        self.ctype = ctype
        self.usage = usage
        self.ended = False
        self._reader, self._writer = conn
        self._close = close

    async def next_chunk(self) -> bytes | None:
        """The next chunk's data; None after the terminating chunk. Raises BrokenResponse."""
        reader = self._reader
        try:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":   # trailers
                    pass
                self.ended = True
                if self._close:
                    self._writer.close()
                else:
                    self.inst.put_idle((reader, self._writer))
                return None
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            return data
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                OSError, ValueError) as exc:
            self.abort()
            reason = "connection closed" if isinstance(exc, asyncio.IncompleteReadError) \
                else repr(exc)
            raise BrokenResponse(reason) from None

    def abort(self) -> None:
        """Close the connection unless the stream ended (idempotent)."""
        if not self.ended:
            self.ended = True
            self._writer.close()


async def exchange(inst: Instance, head: bytes, body: bytes, stream: bool = False
                   ) -> Reply | Stream:
    """Send one request (``head`` ends with the blank line) and return its :data:`Reply`; with
    ``stream``, a chunked ``text/event-stream`` answer comes back as a :class:`Stream` once its
    head has arrived (the caller reads it, and must end or abort it).

    A pooled connection that turns out dead before any byte is read is replaced by a fresh one,
    once. Raises :class:`Unreachable` or :class:`BrokenResponse`; a cancellation (the caller's
    timeout) closes the connection instead of pooling it.
    """
    conn = inst.take_idle()
    if conn is not None:
        try:
            return await _roundtrip(inst, conn, head, body, stream)
        except _Stale:
            pass
    try:
        reader, writer = await asyncio.open_connection(inst.host, inst.port, limit=_HEAD_LIMIT)
    except OSError as exc:
        raise Unreachable(f"cannot connect to {inst.addr}: {exc.strerror or exc}") from None
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    try:
        return await _roundtrip(inst, (reader, writer), head, body, stream)
    except _Stale as exc:
        raise Unreachable(f"{inst.addr} closed the connection: {exc}") from None


async def _roundtrip(inst: Instance, conn: _Conn, head: bytes, body: bytes, stream: bool
                     ) -> Reply | Stream:
    reader, writer = conn
    done = False
    try:
        try:
            if len(body) < _SMALL_BODY:
                writer.write(head + body)
            else:
                writer.write(head)
                writer.write(body)
                await writer.drain()
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise BrokenResponse(f"{inst.addr} sent a truncated response head") from None
            raise _Stale("end of stream") from None
        except (ConnectionError, OSError) as exc:
            raise _Stale(str(exc)) from None
        except asyncio.LimitOverrunError:
            raise BrokenResponse(f"{inst.addr} sent response headers over 64 KiB") from None
        try:
            status, ctype, length, chunked, close, usage = _parse_head(raw)
            while 100 <= status < 200:   # interim responses (we never send Expect, but be safe)
                raw = await reader.readuntil(b"\r\n\r\n")
                status, ctype, length, chunked, close, usage = _parse_head(raw)
            if status in (204, 304):
                data = b""
            elif chunked:
                if stream and ctype.startswith(b"text/event-stream"):
                    done = True
                    return Stream(inst, conn, status, ctype, usage, close)
                data = await _read_chunked(reader)
            elif length is not None:
                data = await reader.readexactly(length)
            else:
                data = await reader.read()
                close = True
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                OSError, ValueError) as exc:
            raise BrokenResponse(f"{inst.addr} broke off its response: {exc!r}") from None
        done = True
    finally:
        if not done:
            writer.close()
    if close:
        writer.close()
    else:
        inst.put_idle(conn)
    return status, ctype, data, usage


def _parse_head(raw: bytes) -> tuple[int, bytes, int | None, bool, bool, bytes | None]:
    lines = raw.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    status = int(rest[:3])
    ctype = b"application/json"
    length: int | None = None
    chunked = False
    close = version != b"HTTP/1.1"
    usage: bytes | None = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"content-type":
            ctype = value.strip()
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            value = value.lower()
            if b"close" in value:
                close = True
            elif b"keep-alive" in value:
                close = False
        elif name == b"x-ember-usage":
            usage = value.strip()
    return status, ctype, length, chunked, close, usage


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":   # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
