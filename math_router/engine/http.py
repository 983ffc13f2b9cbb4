"""The openai clients of this package, with a deadline for each whole reply.

httpx's timeouts bound each read, so a server that sends its headers and then a byte
every half second is never stopped by them. The transport here also bounds the whole
reply: past `timeout` seconds from the request, the next byte raises httpx's own
ReadTimeout, which the openai SDK reports (and retries) as a timeout.
"""

from __future__ import annotations

import time


def _httpx():
    """The HTTP library the installed openai SDK runs on (httpx, or its fork httpx2)."""
    import openai._base_client as base  # which one it imported is only said there

    return getattr(base, "httpx2", None) or getattr(base, "httpx")


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
            response = super().handle_request(request)
            response.stream = Deadline(response.stream, deadline, request)
            return response

    http = openai.DefaultHttpxClient(transport=DeadlineTransport(), timeout=timeout)
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                         max_retries=max_retries, http_client=http)
