"""ModelOptions: every flag's default, frozen, in one place.

The CLI, the API and the server make one of these; the factory builds the models
from it, and the methods read the rest of it (through `Setup.options`) instead of
renamed copies, so a new knob is one field here and one click option. It sits
below evals: it imports only engine, llama, sandbox and specialists.
"""

from __future__ import annotations

import attrs

from math_router.engine.loop import DEFAULT_MAX_TURNS, ToolLimits
from math_router.engine.pricing import Price
from math_router.sandbox.executor import SandboxLimits
from math_router.llama import gguf
from math_router.specialists.base import SamplingParams
from math_router.specialists.modes import DEFAULT_MODE, mode_named
from math_router.specialists.qwen_math import MAX_TOKENS

# OpenAI's named replacement for gpt-4o-mini (which leaves the API on 2027-01-14): cheaper
# ($0.10 / $0.50 per million against $0.15 / $0.60), and it reasons by default, so the tool
# turns of the router and the cascade go at reasoning effort "none" (engine.chat.OpenAIChat).
DEFAULT_API_MODEL = "gpt-6-luna"

# Problems answered at once by default: a few on a CPU (each decode step is slow, more only
# queue), enough on a GPU that one decode step carries many sequences (measured on an H200:
# 8 sequences decode at 0.48x the rate of 64 with llama.cpp's own batched bench).
CPU_CONCURRENCY = 4
GPU_CONCURRENCY = 64

# The cascade escalates when fewer than this share of the samples agree (3 of 4).
DEFAULT_THRESHOLD = 0.75

# The probe method's bands before calibration: P(the specialist's greedy answer is right) at
# or above HIGH answers with one greedy solution, below LOW goes to the orchestrator, and the
# vote cascade takes what is between. `calibrate --probe` replaces them with quantiles of the
# probe's own scores on other problems.
DEFAULT_PROBE_BANDS = (0.3, 0.6)


@attrs.frozen
class ModelOptions:
    model: str | None = None  # None: DEFAULT_API_MODEL with a key, else DEFAULT_LOCAL_MODEL
    base_url: str | None = None
    api_key: str | None = None
    specialist: str = gguf.DEFAULT_SPECIALIST
    specialist_model: str | None = None
    specialist_max_tokens: int = MAX_TOKENS
    orchestrator_max_tokens: int | None = None  # per turn; None: the API's default, 1024 locally
    gpu_layers: int | None = None
    threads: int | None = None  # llama.cpp CPU threads; None: the physical cores
    max_turns: int = DEFAULT_MAX_TURNS
    tool_limits: ToolLimits = ToolLimits()
    force_tool: bool = True  # the router's first turn must call slm_help
    timeout: float = 120.0
    prices: dict[str, Price] = attrs.field(factory=dict)
    cache: bool = True  # answer repeated calls from the response cache
    batch: bool = True  # decode concurrent GGUF specialist calls together
    sampling: SamplingParams = SamplingParams()  # the cascade's k samples
    threshold: float = DEFAULT_THRESHOLD  # the cascade escalates when the majority's share is below this
    specialist_mode: str = DEFAULT_MODE  # "tir": the specialist writes and runs Python
    samples_mix: tuple[tuple[str, int], ...] = ()  # the cascade's samples per mode: (("cot", 2), ("tir", 2))
    tools: tuple[str, ...] = ()  # more tools: "python", "module:function", an installed tool's name
    # Specialist models as tools (tools.specialist): (name, model, system prompt or None).
    specialist_tools: tuple[tuple[str, str, str | None], ...] = ()
    llm_model: str | None = None  # the llm baseline's model when it is not the orchestrator
    # OpenAI's reasoning_effort (engine.openai_models.EFFORTS). The orchestrator's: None sends
    # "none" on tool turns to a model that reasons by default, nothing elsewhere. The llm
    # baseline's: None sends nothing (the model as users call it, at the API's default).
    reasoning_effort: str | None = None
    llm_reasoning_effort: str | None = None
    direct_first_call: bool = True  # with force_tool: the router makes the forced first call itself
    router_samples: int = 1  # the router's slm_help samples this many and reports the vote
    agree_stop: bool = True  # with router_samples > 1: an agreed vote (>= threshold) ends the router
    cascade_escalates: bool = True  # off: the cascade only votes (calibration)
    sandbox: SandboxLimits = SandboxLimits()
    # Greedy solutions also report their tokens' log-probabilities (probe.features: the
    # confidence a logprob probe reads); off by default, it costs a softmax per token.
    specialist_logprobs: bool = False
    probe: str | None = None  # a probe.json from train-probe: the probe method's router
    probe_low: float = DEFAULT_PROBE_BANDS[0]  # below: to the orchestrator, nothing decoded
    probe_high: float = DEFAULT_PROBE_BANDS[1]  # at or above: one greedy specialist solution
    batch_api: bool = False  # the orchestrator's calls go through the OpenAI Batch API
    batch_poll: float = 30.0  # seconds between checks of a running batch

    def llm_options(self) -> ModelOptions:
        """The options the llm baseline's model is built from: its own model and effort."""
        return attrs.evolve(self, model=self.llm_model or self.model,
                            reasoning_effort=self.llm_reasoning_effort)

    @property
    def modes(self) -> set[str]:
        """Every answering mode a specialist runs in: the main one and the cascade's mix."""
        return {self.specialist_mode} | {mode for mode, _ in self.samples_mix}

    @property
    def runs_code(self) -> bool:
        """A specialist mode here runs the model's programs: the sandbox is needed."""
        return any(mode_named(name).runs_code for name in self.modes)
