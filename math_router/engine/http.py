"""The openai clients of this package, with a deadline for each whole reply.

httpx's timeouts bound each read, so a server that sends its headers, or its body, a byte
every half second is never stopped by them. The transport here bounds the whole exchange:
connecting and the headers run on a helper thread that the caller stops waiting for at the
deadline (the abandoned exchange is closed when it ends), and past the deadline the next byte
of the body raises httpx's own ReadTimeout, which the openai SDK reports (and retries) as a
timeout. httpx has no total deadline of its own (its timeouts are per operation).
"""

from __future__ import annotations

import threading
import time


def _httpx():
    """The HTTP library the installed openai SDK runs on (httpx, or its fork httpx2)."""
    import openai._base_client as base  # which one it imported is only said there

    return getattr(base, "httpx2", None) or getattr(base, "httpx")


def _close_when_done(done: threading.Event, outcome: dict) -> None:
    """An exchange the caller gave up on: close its response when it finally comes."""
    done.wait()
    response = outcome.get("response")
    if response is not None:
        response.close()


def client(*, api_key: str, base_url: str | None, timeout: float, max_retries: int = 2):
    """An openai.OpenAI whose every reply, headers to last byte, takes at most `timeout` s."""
    import openai

    httpx = _httpx()

    class Deadline(httpx.SyncByteStream):
        def __init__(self, inner, deadline: float, request):
            self.inner, self.deadline, self.request = inner, deadline, request

        def __iter__(self):
            for chunk in self.inner:
                if time.monotonic() > self.deadline:
                    raise httpx.ReadTimeout(f"the reply took longer than {timeout:g} s in all",
                                            request=self.request)
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class DeadlineTransport(httpx.HTTPTransport):
        def handle_request(self, request):
            deadline = time.monotonic() + timeout
            outcome: dict = {}
            done = threading.Event()

            def exchange() -> None:
                try:
                    outcome["response"] = httpx.HTTPTransport.handle_request(self, request)
                except BaseException as e:  # handed to the caller's thread
                    outcome["error"] = e
                finally:
                    done.set()

            threading.Thread(target=exchange, name="http-exchange", daemon=True).start()
            if not done.wait(timeout):
                threading.Thread(target=_close_when_done, args=(done, outcome),
                                 daemon=True).start()
                raise httpx.ReadTimeout(f"no reply headers in {timeout:g} s", request=request)
            if "error" in outcome:
                raise outcome["error"]
            response = outcome["response"]
            response.stream = Deadline(response.stream, deadline, request)
            return response

    http = openai.DefaultHttpxClient(transport=DeadlineTransport(), timeout=timeout)
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                         max_retries=max_retries, http_client=http)
