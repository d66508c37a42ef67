"""uvicorn's HTTP protocol with the asset fast path moved below ASGI.

Small content-addressed files are the bulk of what a 3D Tiles client asks for (hundreds
of tiles and textures per scene). Through ASGI, uvicorn spends ~25 µs per request on the
scope, the task and the send/receive messages, more than the answer itself costs. This
subclass answers GET and HEAD of files already in ``AssetMemory`` right
where httptools has parsed the headers: the same bytes and headers as the ASGI path
(which it falls back to for everything else — ranges, misses, queries, pipelined requests
behind one still running). ``twinland serve`` installs it (``http=`` of uvicorn).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from backend.http.asset_fast_path import AssetMemory

SPLIT_WRITE_BYTES = 64 * 1024  # bigger bodies: headers and body as two writes, no copy


class _Answered:
    """Stands in for uvicorn's request cycle once a request was answered here: complete,
    so the parser's later callbacks for this request do nothing."""

    response_complete = True
    keep_alive = True

    class message_event:  # noqa: N801 - quacks like the cycle's asyncio.Event
        @staticmethod
        def set() -> None:
            return None


ANSWERED = _Answered()


def asset_protocol(memory: AssetMemory) -> type[HttpToolsProtocol]:
    """A protocol class (for ``uvicorn.run(http=...)``) answering from ``memory``."""

    class AssetServingProtocol(HttpToolsProtocol):
        def on_message_begin(self) -> None:
            # uvicorn builds the ASGI scope here, before the URL is known; it is built in
            # on_headers_complete instead, and only for requests that take the ASGI way
            self.url = b""
            self.expect_100_continue = False
            self.headers = []

        def on_headers_complete(self) -> None:
            if (
                (self.cycle is None or self.cycle.response_complete)
                and not self.pipeline
                and not self.flow.write_paused  # a client not reading: uvicorn's backpressure
            ):
                method = self.parser.get_method()
                if (method == b"GET" or method == b"HEAD") and not self.parser.should_upgrade():
                    found = memory.cached(method, self.url, self.headers)
                    if found is not None:
                        self._answer(*found)
                        return
            # uvicorn's own scope, around what was parsed so far (which it would reset)
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()

        def _answer(self, status: int, head: bytes, body: bytes) -> None:
            keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()
            default: Any = self.server_state.default_headers  # server, date
            parts = [STATUS_LINE[status]]
            parts.extend(name + b": " + value + b"\r\n" for name, value in default)
            parts.append(head)
            if not keep_alive:
                parts.append(b"connection: close\r\n")
            parts.append(b"\r\n")
            if len(body) > SPLIT_WRITE_BYTES:
                self.transport.write(b"".join(parts))
                self.transport.write(body)
            else:
                parts.append(body)
                self.transport.write(b"".join(parts))
            self.cycle = ANSWERED  # type: ignore[assignment]
            if not keep_alive:
                self.server_state.total_requests += 1
                self.transport.close()
                return
            self.on_response_complete()

    return AssetServingProtocol
