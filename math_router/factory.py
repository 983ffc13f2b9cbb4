"""Turn the user's model references into the objects the methods run on.

`--model` is an API model name (gpt-6-luna) or a GGUF reference; without it,
the orchestrator is gpt-6-luna when there is an OpenAI key, the one model a
--base-url server serves, else a local Qwen2.5 Instruct GGUF, so a newcomer
without a key still gets an answer.
`--specialist` is an http(s) URL of an OpenAI-compatible server or a GGUF
reference (path, `hf:REPO/FILE`, alias). Only what the chosen method needs is
built, so `--method llm` never downloads a GGUF.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import attrs

from math_router.engine.cache import ResponseCache
from math_router.engine.caching import CachedChat
from math_router.specialists.caching import CachedSpecialist
from math_router.engine.chat import ChatModel, OpenAIChat, resolve_api_key, resolve_base_url
from math_router.engine.errors import UserError
from math_router.evals.methods import DECLARED, NEEDS, Setup
from math_router.options import (CPU_CONCURRENCY, DEFAULT_API_MODEL, GPU_CONCURRENCY,  # noqa: F401
                                  ModelOptions)
from math_router.llama import gguf
from math_router.specialists.base import Specialist
from math_router.specialists.modes import DEFAULT_MODE
from math_router.sandbox.executor import PythonExecutor


DEFAULT_LOCAL_MODEL = "qwen2.5-1.5b-instruct"


def build_setup(methods: list[str], options: ModelOptions,
                notify: Callable[[str], None] = lambda _: None, batch_out: Path | None = None,
                concurrency: int | None = None) -> Setup:
    """The models `methods` need. With `options.batch_api`, the orchestrator's calls go
    through the Batch API, recorded in `batch_out` (engine.batch_api). `concurrency` (the
    problems or requests answered at once) sizes the batched decoder's sequences."""
    rounds = batch_rounds(options, batch_out, notify) if options.batch_api else None
    probe = fitted_probe(options) if "probe" in methods else None
    if probe is not None and probe.reads_confidence:  # it reads the greedy solution's logprobs
        options = attrs.evolve(options, specialist_logprobs=True)
    needs = set().union(*(NEEDS[m] for m in methods))
    modes = options.modes
    executor = PythonExecutor(options.sandbox) if options.runs_code or "python" in options.tools \
        else None
    tools = tuple(build_tools(options.tools, executor, options.specialist_tools))  # before any model: a typo fails fast
    notify = said_once(notify)  # the orchestrator and the llm baseline may be one model
    # The llm baseline is a chat model of its own when its model or its effort differ.
    apart = "llm" in methods and options.llm_options() != options
    wants = {m for m in methods if "orchestrator" in NEEDS[m] and not (m == "llm" and apart)}
    orchestrator = build_orchestrator(options, notify, rounds, concurrency) if wants else None
    baseline = build_orchestrator(options.llm_options(), notify, rounds, concurrency) \
        if apart else None
    specialists = {mode: build_specialist(options, mode, executor, concurrency)
                   for mode in sorted(modes)} \
        if "specialist" in needs else {}
    cache = None
    if options.cache:
        cache = ResponseCache(notify=notify)
        orchestrator = orchestrator and CachedChat(orchestrator, cache)
        baseline = baseline and CachedChat(baseline, cache)
        specialists = {mode: CachedSpecialist(s, cache) for mode, s in specialists.items()}
    if any(DECLARED[m].delegates for m in methods):  # only an orchestrator with tools calls them
        tools = tuple(bind_specialist_tools(tools, options, cache, concurrency))
    specialist = specialists.get(options.specialist_mode)
    if probe is not None:
        probe.check_specialist(model_identity(specialist), options.specialist_mode)
    return Setup(orchestrator=orchestrator, baseline=baseline, batch_rounds=rounds,
                 specialist=specialist, specialists=specialists, tools=tools, options=options,
                 probe=probe)


def fitted_probe(options: ModelOptions):
    """The probe method's probe.json, refused in one line if the bands are out of order
    (build_setup then refuses a probe fitted on another specialist or mode)."""
    from math_router.probe.model import load_probe

    if not options.probe:
        raise UserError("method probe needs --probe PATH: a probe.json from `train-probe`")
    if not 0.0 <= options.probe_low <= options.probe_high <= 1.0:
        raise UserError(f"the probe's bands must satisfy 0 <= low <= high <= 1 (got low "
                        f"{options.probe_low:g}, high {options.probe_high:g})")
    return load_probe(options.probe)


def bind_specialist_tools(tools, options: ModelOptions, cache, concurrency: int | None) -> list:
    """Each specialist tool (tools.specialist) with its model built as the math specialist's
    is: the shared runtime and decoder for a GGUF, its own prompt, the response cache."""
    from math_router.specialists.modes import prompt_mode
    from math_router.tools.specialist import SpecialistTool, bound

    out = []
    for tool in tools:
        if isinstance(tool, SpecialistTool) and tool.spec is not None and tool.specialist is None:
            spec = tool.spec
            own = attrs.evolve(options, specialist=spec.model, specialist_model=spec.model_name,
                               specialist_max_tokens=spec.max_tokens, specialist_logprobs=False)
            model = build_specialist(own, prompt_mode(tool.name, spec.system_prompt), None,
                                     concurrency)
            tool = bound(tool, CachedSpecialist(model, cache) if cache is not None else model)
        out.append(tool)
    return out


def build_tools(names: tuple[str, ...], executor: PythonExecutor | None,
                specialist_tools: tuple = ()) -> list:
    """The orchestrator's tools beside slm_help: python, the named ones, the specialist models
    named on the command line (--specialist-tool), those registered in code."""
    from math_router.tools.base import check_names
    from math_router.tools.extra import load_tool, registered_tools
    from math_router.tools.python import python_tool
    from math_router.tools.specialist import specialist_tool

    tools = [python_tool(executor or PythonExecutor()) if name == "python" else load_tool(name)
             for name in names]
    for name, model, prompt in specialist_tools:
        served = None
        if model.startswith(("http://", "https://")):  # URL#MODEL_NAME
            model, _, served = model.partition("#")
        tools.append(specialist_tool(
            name, model, system_prompt=prompt, model_name=served or None,
            description=f"Ask the {name} specialist model ({served or Path(model).name}); it "
                        "returns its reply."))
    tools += registered_tools()
    check_names(tools, taken={"slm_help"})
    return tools


def orchestrator_reference(options: ModelOptions) -> tuple[str, str | None]:
    """The orchestrator to use, and why when it was not the user's choice.

    A server of the user's own (--base-url or OPENAI_BASE_URL) and no --model: the
    model it serves, when it serves exactly one (vLLM, llama-server and
    llama-cpp-python's server answer /v1/models).
    """
    if options.model:
        return options.model, None
    base_url = resolve_base_url(options.base_url)
    if base_url and "api.openai.com" not in base_url:
        from math_router.engine.chat import served_models

        models = served_models(base_url, options.api_key, options.timeout)
        if len(models) == 1:  # the output names the model; no note needed
            return models[0], None
        if DEFAULT_API_MODEL in models:  # a proxy of OpenAI's models: the default, as there
            return DEFAULT_API_MODEL, None
        raise UserError(f"--model not given and {base_url} serves "
                        + (f"{len(models)} models: pass --model with one of {', '.join(models[:10])}"
                           if models else "no model: pass --model NAME"))
    if resolve_api_key(options.api_key):
        return DEFAULT_API_MODEL, None
    return DEFAULT_LOCAL_MODEL, (
        f"no OPENAI_API_KEY and no --base-url: the orchestrator is the local GGUF "
        f"{DEFAULT_LOCAL_MODEL} (Qwen2.5-1.5B-Instruct Q4_K_M); set a key or pass --model to change it")


def orchestrator_runs_here(options: ModelOptions, model: str) -> bool:
    """Whether the orchestrator `model` (orchestrator_reference's) is a GGUF run in process.
    A name a --base-url server listed is the server's, even when it looks like a file name
    (llama-cpp-python's server lists its model by path)."""
    served = options.model is None and resolve_base_url(options.base_url)
    return not served and (gguf.is_gguf_reference(model) or Path(model).expanduser().is_file())


def batch_rounds(options: ModelOptions, out: Path | None, notify: Callable[[str], None]):
    """The one Batch API coordinator of a job: its ledger lives in the job's folder."""
    from math_router.engine.batch_api import BatchLedger, BatchRounds

    if out is None:
        raise UserError("--batch-api needs --out: the batches are recorded there, so that a "
                        "rerun polls them instead of paying twice")
    return BatchRounds(_api_chat(options, DEFAULT_API_MODEL if options.model is None
                                 else options.model),
                       BatchLedger(out), poll_seconds=options.batch_poll, notify=notify)


def _api_chat(options: ModelOptions, model: str) -> OpenAIChat:
    return OpenAIChat(model, base_url=options.base_url, api_key=options.api_key,
                      timeout=options.timeout, max_tokens=options.orchestrator_max_tokens,
                      reasoning_effort=options.reasoning_effort)


def said_once(notify: Callable[[str], None]) -> Callable[[str], None]:
    """`notify`, saying each line once."""
    said: set[str] = set()

    def once(line: str) -> None:
        if line not in said:
            said.add(line)
            notify(line)

    return once


def build_orchestrator(options: ModelOptions, notify: Callable[[str], None] = lambda _: None,
                       rounds=None, concurrency: int | None = None) -> ChatModel:
    model, why = orchestrator_reference(options)
    if orchestrator_runs_here(options, model):
        from math_router.llama.chat import LlamaChat
        from math_router.llama.runtime import shared_runtime

        if why:
            notify(why)  # before a download starts, so the user knows why
        if rounds is not None:
            raise UserError(f"--batch-api sends the orchestrator's calls to the OpenAI Batch API; "
                            f"{model} runs here: pass --model NAME of an API model")
        runtime = shared_runtime(gguf.resolve(model, flag="--model"), gpu_layers=options.gpu_layers,
                                 n_threads=options.threads)
        # The same decoder as the specialist's when both name one GGUF: one set of weights,
        # every sequence of both roles in the same decode steps.
        decoder = shared_decoder(runtime, **decoder_settings(options, concurrency)) \
            if options.batch else None
        return LlamaChat(runtime, max_tokens=options.orchestrator_max_tokens or 1024, decoder=decoder)
    if why:
        notify(why)
    chat = _api_chat(options, model)
    notice = chat.shutdown_notice()  # before the first call: a retiring model is named
    if notice:
        notify(notice)
    if rounds is None:
        return chat
    from math_router.engine.batch_api import BatchChat

    return BatchChat(chat, rounds)


def build_specialist(options: ModelOptions, mode=DEFAULT_MODE,
                     executor: PythonExecutor | None = None,
                     concurrency: int | None = None) -> Specialist:
    ref = options.specialist
    if ref.startswith(("http://", "https://")):
        from math_router.specialists.openai_compat import OpenAISpecialist

        return OpenAISpecialist(ref, options.specialist_model,
                                max_tokens=options.specialist_max_tokens, timeout=options.timeout,
                                mode=mode, executor=executor, logprobs=options.specialist_logprobs)
    from math_router.llama.runtime import shared_runtime
    from math_router.specialists.qwen_math import QwenMathSpecialist

    runtime = shared_runtime(gguf.resolve(ref), gpu_layers=options.gpu_layers,
                             n_threads=options.threads)
    decoder = None
    if options.batch:  # one decoder per runtime: every mode's sequences share its steps
        decoder = shared_decoder(runtime, **decoder_settings(options, concurrency))
    return QwenMathSpecialist(runtime, max_tokens=options.specialist_max_tokens, decoder=decoder,
                              mode=mode, executor=executor, logprobs=options.specialist_logprobs)


_decoders: dict[tuple, object] = {}

# Sequences one decoder holds at most, whatever the work (each costs a slot; KV cells are
# bounded apart, by the decoder's memory budget).
MAX_SEQUENCES = 256


def default_concurrency(options: ModelOptions, methods: list[str]) -> int:
    """GPU_CONCURRENCY when a GGUF the methods run in process goes to a GPU, else CPU_CONCURRENCY.
    Asks llama.cpp only when a GGUF is in play (an API-only run never imports it)."""
    in_process = ("specialist" in set().union(*(NEEDS[m] for m in methods))
                  and not options.specialist.startswith(("http://", "https://")))
    if not in_process or options.gpu_layers == 0:
        return CPU_CONCURRENCY
    from math_router.llama.runtime import gpu_offload_supported

    return GPU_CONCURRENCY if gpu_offload_supported() else CPU_CONCURRENCY


def decoder_settings(options: ModelOptions, concurrency: int | None = None) -> dict:
    """The batched decoder's size: a sequence for every sample of every request answered at
    once, so no request waits for a slot while the device could decode it too."""
    per_request = max(options.sampling.k, options.router_samples, 1)
    at_once = concurrency or CPU_CONCURRENCY
    return {"n_seq_max": max(per_request, min(at_once * per_request, MAX_SEQUENCES)),
            "ctx_per_seq": options.specialist_max_tokens + 1024}


def shared_decoder(runtime, **settings):
    """The batched decoder of a runtime, made once per process."""
    from math_router.llama.batched import BatchedDecoder

    key = (id(runtime), tuple(sorted(settings.items())))
    if key not in _decoders:
        _decoders[key] = BatchedDecoder(runtime, **settings)
    return _decoders[key]


def method_settings(method: str, setup: Setup) -> dict:
    """Everything that shapes one method's results; a resumed run must match it.

    Models by identity (an API model's name and server; a GGUF's name, size and
    sha256), every prompt and tool schema by hash, and the flags that change
    answers or figures.
    """
    from math_router.evals.methods import prompts
    from math_router.evals.provenance import text_hash

    options = setup.options
    settings: dict = {}
    needs = NEEDS[method]
    if "orchestrator" in needs:
        chat = setup.chat_for(method)
        settings.update(orchestrator=model_identity(chat),
                        reasoning_effort=reasoning_effort(chat, method),
                        max_turns=options.max_turns,
                        orchestrator_max_tokens=options.orchestrator_max_tokens)
    if "specialist" in needs:
        settings.update(specialist=model_identity(setup.specialist),
                        specialist_max_tokens=options.specialist_max_tokens, batch=options.batch,
                        specialist_mode=options.specialist_mode)
        if options.specialist_logprobs:  # records carry confidence (absent before: no key)
            settings["specialist_logprobs"] = True
    declared = DECLARED[method]
    if ("specialist" in needs and options.runs_code) or (declared.delegates
                                                         and "python" in options.tools):
        settings["sandbox"] = dataclasses.asdict(options.sandbox)
    if declared.delegates:
        settings["tools"] = [t.name for t in setup.tools]
        settings["tool_limits"] = attrs.asdict(options.tool_limits)
        models = specialist_tool_identities(setup.tools)
        if models:  # a resume with another model behind a tool is refused, as for the specialist
            settings["specialist_tools"] = models
    if any("gguf" in settings.get(part, {}) for part in ("orchestrator", "specialist")):
        settings["gpu_layers"] = options.gpu_layers
    settings.update(declared.settings(setup))
    settings["prices"] = {name: attrs.asdict(price) for name, price in sorted(options.prices.items())}
    settings["prompts"] = {name: text_hash(text) for name, text in prompts(method, setup).items()}
    return settings


def specialist_tool_identities(tools) -> dict[str, dict]:
    """Each bound specialist tool's model (as model_identity says it), prompt and length."""
    from math_router.evals.provenance import text_hash

    return {t.name: {**model_identity(t.specialist), "prompt": text_hash(t.spec.system_prompt),
                     "max_tokens": t.spec.max_tokens}
            for t in tools if getattr(t, "specialist", None) is not None and getattr(t, "spec", None)}


def reasoning_effort(chat, method: str) -> str | None:
    """The effort the method's orchestrator turns run at, as run.json and the report say it:
    "none", "medium", ..., "default" (none sent: the API's own), or None for a model that
    takes no effort (a local GGUF)."""
    effort = chat.card().effort
    if effort is None:
        return None
    return effort(DECLARED[method].delegates) or "default"


def model_identity(model) -> dict:
    """What a model is, for run.json: a GGUF by file and hash, an API model by name and server."""
    from math_router.evals.provenance import file_identity

    card = model.card()
    if card.runtime is not None:
        return {"gguf": file_identity(card.runtime.path)}
    return {"model": card.name, "base_url": card.base_url}


def served_models(setup: Setup) -> dict[str, str]:
    """The model names API servers reported for this setup's models, where they said."""
    served = {}
    for role, model in (("orchestrator", setup.orchestrator), ("llm_baseline", setup.baseline),
                        ("specialist", setup.specialist)):
        name = model.card().served if model is not None else None
        if name:
            served[role] = name
    return served


def device(setup: Setup) -> str | None:
    """Where the in-process models run (cpu, cuda, ...), or None when none does."""
    for model in (setup.specialist, setup.orchestrator):
        runtime = model.card().runtime if model is not None else None
        if runtime is not None:
            return runtime.device
    return None


def load_local_models(setup: Setup) -> None:
    """Load every GGUF the setup runs in process now, not on the first request (a server)."""
    for model in (setup.orchestrator, setup.baseline, *setup.specialists.values(),
                  *(getattr(t, "specialist", None) for t in setup.tools)):
        runtime = model.card().runtime if model is not None else None
        if runtime is not None:
            runtime.llama  # noqa: B018 (loads on first access)
