"""The HTTP/1.1 parser scs serves with: httptools, with a bound on a request's head.

uvicorn parses requests with h11 (pure Python) unless httptools (llhttp, in C) is
installed; httptools takes about half a millisecond less CPU a call on a slow host,
some 10 % of a whole call. But uvicorn's httptools protocol has no limit on the
size of a request line and headers: it keeps whatever arrives until the head ends
(a client sending one endless header grew a test server past 400 MiB), where h11
answers a head over 16 KiB with an error and closes. ``BoundedHttpToolsProtocol``
restores a bound: once more than ``HEAD_LIMIT`` bytes have arrived while a head is
still incomplete, it answers 431 and closes the connection. What a connection holds
is then at most the limit plus one read (asyncio reads up to 256 KiB at a time), and
a head over the limit that arrives whole in one read passes (it costs no more memory).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_LIMIT = 16 * 1024
"""Bytes of a request line and headers that may arrive before the head ends: h11's
limit as uvicorn sets it. A token is well under 1 KiB."""

_MESSAGE = b"request line and headers over %d KiB in all" % (HEAD_LIMIT // 1024)
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\n"
    b"connection: close\r\n"
    b"\r\n%s"
) % (len(_MESSAGE), _MESSAGE)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request head over ``HEAD_LIMIT``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True  # bytes now received belong to a head not yet complete

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # checked after parsing: the chunk that ends a head may carry a body as well
        if self._in_head and self._head_bytes > HEAD_LIMIT and not self.transport.is_closing():
            self.transport.write(_REFUSAL)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # the next request's head, on a kept-alive connection
        self._head_bytes = 0
