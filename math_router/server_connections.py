"""The connection limits `serve` needs that uvicorn does not have: a deadline for reading each
request (headers and body) and a cap on the connections of one client.

uvicorn bounds idle keep-alive connections and, with `limit_concurrency`, the connections and
tasks in all; but a client that sends a request a byte every few seconds holds its connection
(and a file descriptor) for as long as it likes, and one client can take every connection the
process may open. This is uvicorn's own h11 protocol with both added.
"""

from __future__ import annotations

from collections import Counter


def limited_protocol(read_seconds: float, per_client: int):
    """An h11 protocol class for uvicorn (its `http=` setting): a request must be read whole
    within `read_seconds` of its first byte (or of the connection), and a client (by address)
    holds at most `per_client` connections; past either, the connection is closed."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    reading = (h11.IDLE, h11.SEND_BODY)  # the client's side: a request not yet read whole
    open_by_client: Counter = Counter()

    class LimitedH11Protocol(H11Protocol):
        read_deadline = None
        peer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            address = transport.get_extra_info("peername")
            self.peer = address[0] if address else None
            open_by_client[self.peer] += 1
            if open_by_client[self.peer] > per_client:
                transport.close()
                return
            self._start_reading()

        def connection_lost(self, exc) -> None:
            self._stop_reading()
            open_by_client[self.peer] -= 1
            if open_by_client[self.peer] <= 0:
                del open_by_client[self.peer]
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.read_deadline is None and self.conn.their_state in reading:
                self._start_reading()  # the next request on a kept-alive connection
            super().data_received(data)
            if self.conn.their_state not in reading:
                self._stop_reading()  # read whole: the answer may take as long as it takes

        def _start_reading(self) -> None:
            self._stop_reading()
            self.read_deadline = self.loop.call_later(read_seconds, self._too_slow)

        def _stop_reading(self) -> None:
            if self.read_deadline is not None:
                self.read_deadline.cancel()
                self.read_deadline = None

        def _too_slow(self) -> None:
            self.read_deadline = None
            if self.conn.their_state in reading and not self.transport.is_closing():
                self.transport.close()

    return LimitedH11Protocol
