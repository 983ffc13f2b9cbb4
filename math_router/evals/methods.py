"""The ways to answer a question, each question -> Trace.

| method  | who answers |
| llm     | the orchestrator alone, no tools |
| router  | the orchestrator, delegating through `slm_help` |
| slm     | the specialist alone |
| cascade | the specialist samples k solutions; the orchestrator decides only when they disagree |
| probe   | a probe on the specialist's hidden state picks one of: slm, cascade, the orchestrator |
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import attrs

from math_router.engine import loop
from math_router.engine.chat import ChatModel
from math_router.engine.errors import TransportError, UserError, check_text
from math_router.engine.progress import say, say_solved
from math_router.engine.trace import Route, Trace, Usage, Vote, add_usage, measured_seconds
from math_router.probe.features import vector as confidence_vector
from math_router.engine.answers import (escalates, extract_answer, normalize, vote,
                                        votes_to_settle)
from math_router.evals.voting import StopWhenSettled
from math_router.options import DEFAULT_THRESHOLD, ModelOptions  # noqa: F401 (re-exported)
from math_router.specialists.base import SampleSet, Specialist, can_read
from math_router.tools.base import ToolRegistry
from math_router.tools.slm import slm_help_tool

LLM_SYSTEM = ("Solve the math problem. Reason step by step, then give the final answer "
              "in \\boxed{}.")

# Trimmed to what changes behaviour (docs/benchmarks.md has each change's tokens): every
# token here is paid on every orchestrator turn.
ROUTER_SYSTEM = ("Solve the math problem with the slm_help tool: call it with the complete "
                 "problem. If its answer is right, reply with it; if not, correct it or ask "
                 "again. End with the final answer in \\boxed{}.")

FORCE_SLM_HELP = {"type": "function", "function": {"name": "slm_help"}}

CASCADE_SYSTEM = ("A math specialist's sampled answers to the problem disagree; you see each with "
                  "its count. Decide which is right (slm_help can solve a clearer or smaller "
                  "question). End with the final answer in \\boxed{}.")


@attrs.frozen
class Setup:
    """What the methods run on: the built models and tools, and the options they were built
    from (the methods read their knobs there). A method that needs a missing part says so."""

    orchestrator: ChatModel | None = None
    baseline: ChatModel | None = None  # the llm method's model, when not the orchestrator
    specialist: Specialist | None = None  # in `options.specialist_mode`
    specialists: dict[str, Specialist] = attrs.field(factory=dict)  # by mode, for a mixed vote
    tools: tuple = ()  # the orchestrator's tools beside slm_help (python, the user's own)
    batch_rounds: object = None  # engine.batch_api.BatchRounds when calls go through the Batch API
    probe: object = None  # probe.model.Probe for the probe method, checked against the specialist
    options: ModelOptions = ModelOptions()

    def chat_for(self, method: str) -> ChatModel | None:
        """The chat model `method` asks: the llm baseline's own model where there is one."""
        return self.baseline if method == "llm" and self.baseline else self.orchestrator


def conversation(system: str, question: str, history: tuple[dict, ...] = ()) -> list[dict]:
    """The orchestrator's messages: our system prompt, then a chat's own conversation as it was
    (its system prompt, earlier turns), then the question (the last user message)."""
    return [{"role": "system", "content": system}, *history,
            {"role": "user", "content": question_text(question)}]


def llm(setup: Setup, question: str, history: tuple[dict, ...] = ()) -> Trace:
    chat = _need(setup.chat_for("llm"), "llm", "an orchestrator model")
    messages = conversation(LLM_SYSTEM, question, history)
    return loop.run(chat, ToolRegistry(), messages, max_turns=1, method="llm",
                    prices=setup.options.prices)


def router_system(setup: Setup) -> str:
    """The router's system prompt, naming the tools it has beside slm_help (the schemas say
    what each takes; this says they are there to use)."""
    others = [t.name for t in setup.tools]
    return ROUTER_SYSTEM + (f" You also have: {', '.join(others)}." if others else "")


def router(setup: Setup, question: str, history: tuple[dict, ...] = ()) -> Trace:
    opts = setup.options
    chat = _need(setup.orchestrator, "router", "an orchestrator model")
    specialist = _need(setup.specialist, "router", "a specialist")
    messages = conversation(router_system(setup), question, history)
    sampling = attrs.evolve(opts.sampling, k=opts.router_samples) \
        if opts.router_samples > 1 else None
    stop_at = opts.threshold if sampling is not None and opts.agree_stop else None
    tools = ToolRegistry([slm_help_tool(specialist, sampling, stop_at), *setup.tools])
    # After earlier turns the last message may not be a whole problem ("and with 32
    # students?"): the orchestrator then writes the specialist's self-contained problem. (A
    # system prompt alone leaves the question whole.)
    earlier = any(m["role"] != "system" for m in history)
    if not (opts.force_tool and opts.direct_first_call) or earlier:
        return loop.run(chat, tools, messages, max_turns=opts.max_turns, method="router",
                        first_tool_choice=FORCE_SLM_HELP if opts.force_tool else None,
                        prices=opts.prices, limits=opts.tool_limits)
    # The forced first turn can only call slm_help with the problem: the router makes that
    # call itself, and the orchestrator's first turn (its prompt and its copy of the problem)
    # is not paid for. The orchestrator then reads the answer and decides.
    arguments = json.dumps({"question": messages[-1]["content"]}, ensure_ascii=False)
    trace = loop.run(chat, tools, messages, max_turns=opts.max_turns, method="router",
                     prices=opts.prices, limits=opts.tool_limits,
                     first_call=("slm_help", arguments))
    answers = [c.model.answer for c in trace.tool_calls
               if c.name == "slm_help" and not c.is_error and c.model and c.model.answer]
    return stands_unless_overruled(trace, answers[-1] if answers else None, "the specialist's answer")


def stands_unless_overruled(trace: Trace, standing: str | None, whose: str) -> Trace:
    """An orchestrator reply that states no answer ("The answer is correct.") overrules
    nothing: the answer it was shown stands, and the final text says so."""
    if trace.stopped != "answer" or standing is None \
            or extract_answer(trace.final_text or "") is not None:
        return trace
    final = (f"{(trace.final_text or '').rstrip()}\n\n(The orchestrator stated no answer of its "
             f"own; {whose} stands: \\boxed{{{standing}}})").lstrip()
    return attrs.evolve(trace, final_text=final, ended="specialist_stands")


def slm(setup: Setup, question: str, history: tuple[dict, ...] = ()) -> Trace:
    specialist = _need(setup.specialist, "slm", "a specialist")
    start = time.perf_counter()
    say(f"specialist {specialist.name}: solving...")
    result = specialist.solve(question_text(question))
    say_solved(result)
    trace = Trace(method="slm", final_text=result.text, usage={"specialist": result.usage},
                  spent_seconds=time.perf_counter() - start, models={"specialist": specialist.name},
                  local=["specialist"] if specialist.local else [], details=result.details,
                  device=result.device)
    return loop.summarize(trace, None, setup.options.prices)


def cascade(setup: Setup, question: str, history: tuple[dict, ...] = ()) -> Trace:
    """Self-consistency first; the orchestrator only for the problems the samples disagree on."""
    opts = setup.options
    specialist = _need(setup.specialist, "cascade", "a specialist")
    question = question_text(question)
    start = time.perf_counter()
    say(f"specialist {specialist.name}: sampling "
        + (", ".join(f"{k} {m}" for m, k in opts.samples_mix) or str(opts.sampling.k)) + "...")
    samples, modes = draw_samples(setup, question)
    k = len(samples.results)
    candidates = vote([r.answer for r in samples.results], modes)
    majority = candidates[0] if candidates else None
    agreement = majority["count"] / k if majority else 0.0
    below = escalates(agreement, majority["answer"] if majority else None, opts.threshold)
    # A vote-only run (calibration for an escalation target) asks nobody: its
    # records say so, and whether the vote was below the threshold stays readable
    # from the agreement.
    escalate = below and opts.cascade_escalates
    ballot = Vote(agreement=agreement, escalated=escalate, threshold=opts.threshold,
                  vote_only=not opts.cascade_escalates, candidates=candidates,
                  majority=majority["answer"] if majority else None,
                  samples=[r.text for r in samples.results], sample_modes=modes,
                  sample_answers=[r.answer for r in samples.results],
                  samples_cancelled=sum(r.finish_reason == "cancelled" for r in samples.results))
    tally = ", ".join(f"{c['answer']} x{c['count']}" for c in candidates) or "no answers"
    say(f"vote: {tally}; agreement {agreement:.2f} "
        + ("< threshold: asking the orchestrator" if escalate
           else "< threshold, but this run only votes" if below
           else ">= threshold: the majority answers"))
    base = Trace(method="cascade", final_text=None, usage={"specialist": samples.usage},
                 spent_seconds=time.perf_counter() - start, models={"specialist": specialist.name},
                 local=["specialist"] if specialist.local else [], details=samples.details,
                 device=samples.device, vote=ballot)
    if not escalate:
        # The first sample that gave the majority answer is the final text.
        text = next((r.text for r in samples.results if majority and r.answer is not None
                     and normalize(r.answer) == majority["normalized"]), None)
        return loop.summarize(attrs.evolve(base, final_text=text), None, opts.prices)
    chat = _need(setup.orchestrator, "cascade", "an orchestrator model to escalate to")
    listing = "\n".join(f"- {c['answer']} ({c['count']} of {k})" for c in candidates)
    messages = [{"role": "system", "content": CASCADE_SYSTEM},
                {"role": "user", "content": f"Problem:\n{question}\n\nThe specialist's answers:\n"
                                            f"{listing or '- (no sample stated an answer)'}"}]
    decided = loop.run(chat, toolbox(setup, specialist), messages,
                       max_turns=opts.max_turns, method="cascade", prices=opts.prices,
                       limits=opts.tool_limits)
    merged = attrs.evolve(base, final_text=decided.final_text, turns=decided.turns,
                          tool_calls=decided.tool_calls, stopped=decided.stopped,
                          spent_seconds=base.spent_seconds + decided.spent_seconds)
    merged = stands_unless_overruled(merged, majority["answer"] if majority else None,
                                     "the samples' majority")
    return loop.summarize(merged, chat, opts.prices)


def probe(setup: Setup, question: str, history: tuple[dict, ...] = ()) -> Trace:
    """Know before decoding: the specialist reads the question (its prompt evaluated, nothing
    written), the probe turns its hidden state into P(its greedy answer is right), and that
    picks the way: one greedy solution (high), the vote cascade (between), or the orchestrator
    alone with nothing decoded (low). The reading's cells stay in the decoder, so a greedy
    solution or a vote that follows evaluates one prompt token, not the prompt again.

    A probe fitted on the greedy solution's log-probabilities (`train-probe --features
    logprobs`, what an OpenAI-compatible specialist can give) decides after that solution
    instead: high keeps it, the other two ways follow it."""
    opts = setup.options
    specialist = _need(setup.specialist, "probe", "a specialist")
    fitted = _need(setup.probe, "probe", "a probe (--probe PATH, a probe.json from train-probe)")
    question = question_text(question)
    start = time.perf_counter()
    if fitted.reads_confidence:
        first = slm(setup, question)
        features = first.details.get("confidence")
        if features is None:
            raise UserError(f"the specialist ({specialist.name}) returned no log-probabilities, "
                            "which this probe reads (a server that does not return them cannot "
                            "feed it; a GGUF specialist needs --batch)")
        p = fitted.probability(confidence_vector(features))
    else:
        if not can_read(specialist):
            raise UserError("this probe reads the specialist's hidden state: it needs a GGUF "
                            "specialist on the batched decoder")
        reading = specialist.read(question)
        # The reading is the specialist's prompt evaluation: a trace of its own, no answer.
        first = loop.summarize(Trace(
            method="probe", final_text=None, usage={"specialist": reading.usage},
            spent_seconds=time.perf_counter() - start, models={"specialist": specialist.name},
            local=["specialist"] if specialist.local else [],
            device=reading.details.get("device")), None, opts.prices)
        p = fitted.probability(reading.hidden_state)
    way = route_of(p, opts.probe_low, opts.probe_high)
    say(f"probe: P(specialist right) {p:.2f} -> {way}")
    if way == "specialist" and fitted.reads_confidence:
        trace = first  # the solution already written stands
    else:
        inner = {"specialist": slm, "cascade": cascade, "orchestrator": _orchestrator_alone}[way]
        trace = after(first, inner(setup, question))
    return attrs.evolve(trace, method="probe", route=Route(
        probability=round(p, 6), way=way, low=opts.probe_low, high=opts.probe_high,
        features=fitted.features))


def after(first: Trace, then: Trace) -> Trace:
    """`then`, which ran after `first` on the same question: both calls' tokens, seconds and
    costs, component by component; `then`'s answer, turns and vote."""
    usage = add_usage(first.usage, then.usage)
    spent = first.spent_seconds + then.spent_seconds

    def cost(a, b):
        return None if a is None or b is None else a + b

    costs = {c: cost(first.component_cost_usd.get(c, 0.0), then.component_cost_usd.get(c, 0.0))
             for c in usage}
    return attrs.evolve(
        then, usage=usage, spent_seconds=spent, seconds=measured_seconds(spent, usage.values()),
        component_seconds={c: u.seconds for c, u in usage.items()}, component_cost_usd=costs,
        cost_usd=cost(first.cost_usd, then.cost_usd),
        spent_cost_usd=cost(first.spent_cost_usd, then.spent_cost_usd),
        models={**first.models, **then.models}, local=sorted({*first.local, *then.local}),
        device=then.device or first.device,
        details={**then.details, **({"first": {"final_text": first.final_text,
                                               "details": first.details}}
                                    if first.final_text is not None else {})})


def route_of(probability: float, low: float, high: float) -> str:
    """The probe method's one rule: which way a question goes at these bands."""
    if probability >= high:
        return "specialist"
    return "orchestrator" if probability < low else "cascade"


def _orchestrator_alone(setup: Setup, question: str) -> Trace:
    """The llm method's request on the orchestrator (not the llm baseline's own model)."""
    return llm(attrs.evolve(setup, baseline=None), question)


def toolbox(setup: Setup, specialist: Specialist) -> ToolRegistry:
    """slm_help and the setup's other tools, as the router and the cascade offer them."""
    return ToolRegistry([slm_help_tool(specialist), *setup.tools])


def draw_samples(setup: Setup, question: str) -> tuple[SampleSet, list[str]]:
    """The cascade's k samples, and the mode of each.

    One mode: one request, stopped early once the vote is settled. A mix
    (`cot:2,tir:2`): each mode's request at once, so their sequences share the
    decoder's steps, all samples drawn (the early stop watches one request).
    """
    opts = setup.options
    if not opts.samples_mix:
        needed = votes_to_settle(opts.threshold, opts.sampling.k)
        samples = setup.specialist.sample(question, opts.sampling,
                                          StopWhenSettled(needed, opts.specialist_mode))
        return samples, [opts.specialist_mode] * len(samples.results)
    missing = [mode for mode, _ in opts.samples_mix if mode not in setup.specialists]
    if missing:
        raise UserError(f"no specialist in mode {', '.join(missing)}")
    with ThreadPoolExecutor(max_workers=len(opts.samples_mix)) as pool:
        groups = list(pool.map(lambda part: setup.specialists[part[0]].sample(
            question, attrs.evolve(opts.sampling, k=part[1])), opts.samples_mix))
    results = [r for g in groups for r in g.results]
    modes = [mode for (mode, k), g in zip(opts.samples_mix, groups) for _ in g.results]
    usage = sum((g.usage for g in groups), Usage())
    # The modes ran side by side: the set took as long as its slowest request.
    usage = attrs.evolve(usage, seconds=max(g.usage.seconds for g in groups),
                         cached_seconds=max(g.usage.cached_seconds for g in groups))
    details = {**groups[0].details, "mode": "+".join(f"{m}:{k}" for m, k in opts.samples_mix)}
    return SampleSet(results, usage, max(g.seconds for g in groups), details), modes


def prompts(method: str, setup: Setup) -> dict[str, str]:
    """Every text the method's models read besides the problem: system prompts, tool schemas.

    run.json keeps a hash of each, so results made with other prompts are not mixed.
    """
    from math_router.specialists.modes import mode_named

    opts = setup.options
    texts: dict[str, str] = {}
    if "specialist" in NEEDS[method]:
        modes = [m for m, _ in opts.samples_mix] if method == "cascade" and opts.samples_mix \
            else [opts.specialist_mode]
        for mode in modes:
            texts[f"specialist_system_{mode}"] = mode_named(mode).system
    declared = DECLARED[method]
    if declared.system:
        texts["orchestrator_system"] = router_system(setup) if method == "router" \
            else declared.system
    if method == "probe":  # it asks as the llm and as the cascade do
        texts["orchestrator_system_llm"] = LLM_SYSTEM
        texts["orchestrator_system_cascade"] = CASCADE_SYSTEM
    if declared.delegates and setup.specialist is not None:
        texts["tools"] = json.dumps(toolbox(setup, setup.specialist).schemas(), sort_keys=True)
    return texts


def preflight(setup: Setup, methods: list[str]) -> None:
    """One cheap request to each API the methods will call, before the first problem.

    A wrong model name, a refused key or a parameter the model refuses then
    stops the run at once with one line, instead of failing every problem.
    """
    opts = setup.options
    asked = set()
    for method in methods:
        tools, choice = [], None
        if DECLARED[method].delegates and setup.specialist is not None:
            tools = toolbox(setup, setup.specialist).schemas()
            choice = FORCE_SLM_HELP if method == "router" and opts.force_tool else None
        chat = setup.chat_for(method)
        asks_orchestrator = "orchestrator" in NEEDS[method] \
            and (method != "cascade" or opts.cascade_escalates)
        parts = [("orchestrator", chat, tools, choice)] if asks_orchestrator else []
        if "specialist" in NEEDS[method]:
            parts.append(("specialist", setup.specialist, None, None))
        for role, model, tools_sent, choice_sent in parts:
            key = (id(model), bool(tools_sent), choice_sent is not None)
            if model is None or key in asked or not hasattr(model, "check"):
                continue
            asked.add(key)
            try:
                model.check(tools_sent, choice_sent) if role == "orchestrator" else model.check()
            except TransportError as e:
                if e.systemic and "cannot reach" in str(e) and getattr(model, "cache", None):
                    continue  # offline: the response cache may answer; a real call will tell
                raise UserError(f"the {role} ({model.name}) failed a first test request, so "
                                f"nothing ran: {e}") from None


@attrs.frozen
class Method:
    """One way to answer, declared once: what it runs, what it needs built, the system prompt
    its orchestrator reads, whether that orchestrator is offered slm_help and the setup's
    tools, and the settings beyond the models that shape its results (run.json keeps them, so
    a resumed run must match). Adding a method is adding one of these to DECLARED."""

    name: str
    solve: Callable[..., Trace]  # (setup, question, history=()) -> Trace
    needs: frozenset[str]  # "orchestrator", "specialist": nothing else is built (or downloaded)
    system: str | None = None
    delegates: bool = False
    settings: Callable[[Setup], dict] = lambda setup: {}
    # Whether a chat's earlier turns reach its orchestrator (serve); the others answer the
    # last user message alone, and say so.
    reads_conversation: bool = False


def _router_settings(setup: Setup) -> dict:
    opts = setup.options
    settings = {"force_tool": opts.force_tool, "router_samples": opts.router_samples,
                "direct_first_call": opts.direct_first_call}
    if opts.router_samples > 1:
        settings.update(agree_stop=opts.agree_stop, threshold=opts.threshold,
                        sampling=attrs.asdict(attrs.evolve(opts.sampling, k=opts.router_samples)))
    return settings


def _cascade_settings(setup: Setup) -> dict:
    opts = setup.options
    return {"sampling": attrs.asdict(opts.sampling), "threshold": opts.threshold,
            "samples_mix": [list(part) for part in opts.samples_mix],
            "escalates": opts.cascade_escalates}


def _probe_settings(setup: Setup) -> dict:
    """The cascade's settings (its middle band is the cascade), the bands, and the probe by
    its training data's hash and its weights' fingerprint."""
    opts = setup.options
    fitted = setup.probe
    return {**_cascade_settings(setup), "probe_low": opts.probe_low, "probe_high": opts.probe_high,
            "probe": None if fitted is None else {
                "data_sha256": fitted.training.get("data_sha256"),
                "weights": fitted.fingerprint(), "heldout_auroc": fitted.heldout.get("auroc")}}


# The cascade's orchestrator is built up front but called only on escalation.
DECLARED: dict[str, Method] = {m.name: m for m in (
    Method("llm", llm, frozenset({"orchestrator"}), system=LLM_SYSTEM, reads_conversation=True),
    Method("router", router, frozenset({"orchestrator", "specialist"}), system=ROUTER_SYSTEM,
           delegates=True, settings=_router_settings, reads_conversation=True),
    Method("slm", slm, frozenset({"specialist"})),
    Method("cascade", cascade, frozenset({"orchestrator", "specialist"}), system=CASCADE_SYSTEM,
           delegates=True, settings=_cascade_settings),
    Method("probe", probe, frozenset({"orchestrator", "specialist"}), delegates=True,
           settings=_probe_settings),
)}

METHODS: dict[str, Callable[[Setup, str], Trace]] = {name: m.solve for name, m in DECLARED.items()}
NEEDS: dict[str, frozenset[str]] = {name: m.needs for name, m in DECLARED.items()}


def question_text(question: str | None) -> str:
    """The question as the methods send it; the one check that it says something."""
    if not question or not question.strip():
        raise UserError("the question is empty")
    return check_text(question, "the question").strip()


def _need(part, method: str, what: str):
    if part is None:
        raise UserError(f"method {method} needs {what}")
    return part
