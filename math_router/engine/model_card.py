"""What a model says of itself: every chat model and specialist has a `card()`.

The factory, run.json, the server and the CLI read a model through its card instead of
probing its attributes: a GGUF run here names its runtime (the file, the device, loading);
a model behind a server names the server and what the server said it is; a model that
takes a reasoning effort says which it sends. Wrappers (the response cache, the Batch API)
hand on the card of the model they wrap.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs


@attrs.frozen
class ModelCard:
    name: str
    local: bool  # runs in this process: no API cost
    runtime: Any = None  # a GGUF's LlamaRuntime (llama.runtime), for one run here
    base_url: str | None = None  # the server, for one behind a server
    served: str | None = None  # the name that server reported, once it answered
    effort: Callable[[bool], str | None] | None = None  # the effort it sends (with tools or not)
