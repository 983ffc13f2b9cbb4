"""The Python API: what the command line does, as functions a notebook can call.

    import math_router

    result = math_router.solve("What is 27*14+15?")            # the router, default models
    result.answer                                                 # "393"
    result.as_dict()                                              # what `solve --json` prints

    run = math_router.evaluate(["llm", "router"], dataset="gsm8k", n=50, model="gpt-4o-mini")
    run.comparison["router"]["accuracy"], run.out                 # figures and the results folder

Keyword arguments name ModelOptions fields (`model`, `base_url`, `specialist`,
`threshold`, ...), the same settings as the command line's flags; `options=`
takes a whole ModelOptions. The command line calls these functions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import attrs

from math_router.engine.errors import UserError
from math_router.engine.trace import Trace
from math_router.evals.datasets import CALIBRATION_N, DEFAULT_N, DEFAULT_SEED
from math_router.evals.evaluation import BATCH_WORKERS, DEFAULT_CONCURRENCY, Evaluation
from math_router.options import ModelOptions

ALL_METHODS = ("llm", "router", "slm", "cascade")  # "all": every method that needs no more than the models (probe needs a probe.json)


@attrs.frozen
class Result:
    """One question answered: the answer and the whole trace behind it."""

    answer: str | None
    trace: Trace

    def as_dict(self) -> dict:
        """The answer, tool calls, tokens, seconds and cost, as `solve --json` prints them."""
        from math_router.evals.records import summary

        return summary(self.trace)


def model_options(options: ModelOptions | None = None, **overrides) -> ModelOptions:
    """`options` (or the defaults) with the named fields changed; an unknown name is an error."""
    fields = attrs.fields_dict(ModelOptions)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"unknown option {', '.join(unknown)}; options are {', '.join(fields)}")
    return attrs.evolve(options or ModelOptions(), **overrides)


def solve(question: str, method: str = "router", *, options: ModelOptions | None = None,
          notify: Callable[[str], None] | None = None, calibration=None, **overrides) -> Result:
    """Answer one question with `method` (router, llm, slm, cascade); `calibration` (a
    calibration.json's path or content) sets the threshold."""
    from math_router.evals.methods import METHODS, question_text

    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    question_text(question)  # before any model is built
    return Solver([method], options=options, notify=notify, calibration=calibration,
                  **overrides).solve(question, method)


class Solver:
    """The models of `methods`, built once, answering questions as often as asked (a server, a
    notebook loop). Thread-safe: concurrent calls share the batched decoder."""

    def __init__(self, methods: str | Iterable[str], *, options: ModelOptions | None = None,
                 notify: Callable[[str], None] | None = None, calibration=None,
                 concurrency: int | None = None, **overrides):
        from math_router.factory import build_setup

        self.methods = method_list(methods)
        overrides, self.calibration = _calibrated(overrides, calibration, [], options)
        self.options = model_options(options, **overrides)
        # `concurrency`: the calls answered at once (a server's), so the decoder has room.
        self.setup = build_setup(self.methods, self.options, notify=notify or _quiet,
                                 concurrency=concurrency)

    def check(self) -> None:
        """One small request to each API the methods call (a wrong key fails here, once)."""
        from math_router.evals.methods import preflight

        preflight(self.setup, self.methods)

    def load(self) -> None:
        """Load the GGUFs run in process now rather than on the first question."""
        from math_router.factory import load_local_models

        load_local_models(self.setup)

    def solve(self, question: str, method: str, *, history: tuple[dict, ...] = (),
              seed: int | None = None) -> Result:
        """`question` (a chat's last user message) with `method`; `history`, the chat's turns
        before it (system prompt, earlier messages), reaches the orchestrators that read a
        conversation (llm, router); `seed` seeds the samples of this question alone."""
        from math_router.evals.methods import METHODS

        if method not in self.methods:
            raise UserError(f"method {method!r} is not one of {', '.join(self.methods)}")
        setup = self.setup
        if seed is not None:  # the methods read their knobs from the setup: a copy for this one
            options = attrs.evolve(setup.options,
                                   sampling=attrs.evolve(setup.options.sampling, seed=seed))
            setup = attrs.evolve(setup, options=options)
        trace = METHODS[method](setup, question, tuple(history))
        return Result(trace.answer, trace)


def default_eval_out(dataset: str, methods: list[str], n: int | None, seed: int) -> Path:
    """The folder an eval writes without --out, named by what it runs, so that the same
    command resumes it: results/<data set>_<methods>_n<N>_seed<S>."""
    name = Path(dataset).stem if Path(dataset).suffix else dataset
    return Path("results") / f"{name}_{'-'.join(methods)}_n{'all' if n is None else n}_seed{seed}"


def default_answers_out(input_path: str, method: str) -> Path:
    """The folder `solve --input` writes without --out: results/answers_<input>_<method>."""
    stem = "stdin" if input_path == "-" else Path(input_path).stem
    return Path("results") / f"answers_{stem}_{method}"


def method_list(methods: str | Iterable[str]) -> list[str]:
    """"all", "llm,router" or a list -> known method names, in the order given."""
    from math_router.evals.methods import METHODS

    if isinstance(methods, str):
        names = list(ALL_METHODS) if methods == "all" else [m.strip() for m in methods.split(",")]
    else:
        names = list(methods)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise UserError(f"unknown method {', '.join(unknown) or repr(methods)}; choose from "
                        f"{', '.join(METHODS)}, a comma list of them, or all")
    return names


def evaluate(methods: str | Iterable[str] = "all", dataset: str = "gsm8k", *,
             n: int | None = DEFAULT_N, seed: int = DEFAULT_SEED, out: str | Path | None = None,
             concurrency: int | None = None,
             progress: bool = True, options: ModelOptions | None = None,
             notify: Callable[[str], None] | None = None, fields=None, calibration=None,
             max_cost: float | None = None, max_time: float | None = None,
             command: list[str] | None = None, latency_sample: int = 0,
             **overrides) -> Evaluation:
    """Run `methods` on the same `n` problems of `dataset` (None: all of them) into `out`.

    An existing `out` resumes: finished problems are kept, failed ones retried,
    and a folder made with other problems or settings is refused untouched.
    `fields` (datasets.Fields) says which fields of a file hold the question and answer.
    `calibration` (a calibration.json's path or content, from `calibrate`) sets the
    threshold chosen on other problems and is recorded in run.json. `max_cost` (USD this run
    may spend) and `max_time` (seconds) stop it from starting problems past them
    (evals.budget); `Evaluation.stopped` then says why, and the same call goes on.
    `latency_sample` N: each method then answers the first N problems again, one at a time
    and without the response cache, so its seconds are its own (report: "alone").
    """
    from math_router.evals import evaluation
    from math_router.evals.datasets import Fields, load_problems

    notify = notify or _quiet
    names = method_list(methods)
    problems = load_problems(dataset, n, seed, fields or Fields(), notify)
    overrides, calibration = _calibrated(overrides, calibration, problems, options)
    opts = model_options(options, **overrides)
    out = Path(out) if out else default_eval_out(dataset, names, n, seed)
    run_info = {"dataset": dataset, "n": len(problems), "seed": seed,
                **({"command": command} if command is not None else {})}
    job, settings = _job(names, opts, run_info, calibration, concurrency, progress, notify, out,
                         max_cost, max_time)
    return evaluation.evaluate(job, names, problems, out, {m: settings(m) for m in names},
                               latency_sample=latency_sample)


def solve_many(rows_or_path, method: str = "router", *, out: str | Path | None = None,
               concurrency: int | None = None, progress: bool = True, options: ModelOptions | None = None,
               notify: Callable[[str], None] | None = None, fields=None, calibration=None,
               max_cost: float | None = None, max_time: float | None = None,
               command: list[str] | None = None, **overrides) -> Iterator[dict]:
    """Answer each of a user's own problems with `method`, yielding one answer record per
    problem (id, question, answer, final_text, tokens, seconds, cost_usd, error, ...).

    `rows_or_path`: a file (JSONL, JSON list, CSV, Parquet; "-" for JSONL on stdin), or
    an iterable of dicts or of question strings. With `out`, each answer is appended to
    out/answers.jsonl as it finishes, and answers.csv and summary.json are written at the
    end; rerunning into the same `out` skips what finished and retries errors (the
    finished answers are yielded first). Rows with an answer field are graded too.
    """
    from math_router.evals import evaluation
    from math_router.evals.datasets import Fields, load_inputs, rows_to_problems
    from math_router.evals.folders import AnswerFolder, ensure_writable

    notify = notify or _quiet
    (name,) = method_list([method])
    if isinstance(rows_or_path, (str, Path)):
        source = str(rows_or_path)
        problems = load_inputs(source, fields or Fields())
    else:
        source = "rows"
        problems = rows_to_problems(rows_or_path, fields or Fields())
    if out is not None:
        ensure_writable(Path(out))
        AnswerFolder(Path(out)).check_method(name)
    overrides, calibration = _calibrated(overrides, calibration, problems, options)
    opts = model_options(options, **overrides)
    run_info = {"input": {"source": source, "rows": len(problems)},
                **({"command": command} if command is not None else {})}
    job, settings = _job([name], opts, run_info, calibration, concurrency, progress, notify,
                         Path(out) if out is not None else None, max_cost, max_time)
    yield from evaluation.answer(job, name, problems, Path(out) if out is not None else None,
                                 {"method": name, **settings(name)})


def _calibrated(overrides: dict, calibration, problems,
                options: ModelOptions | None) -> tuple[dict, dict | None]:
    """The threshold (and the probe method's bands) a calibration chose on other problems
    (refused if it saw these). A probe calibration brings its probe too, unless one is named;
    a named probe must be the one calibrated (its weights' fingerprint)."""
    from math_router.evals.calibrate import check_disjoint, load_calibration

    if calibration is None:
        return overrides, None
    calibration = calibration if isinstance(calibration, dict) else load_calibration(calibration)
    check_disjoint(calibration, [p.id for p in problems])
    chosen = {"threshold": float(calibration["threshold"])}
    if "probe_low" in calibration:
        from math_router.probe.model import load_probe

        named = overrides.get("probe", options.probe if options else None)
        probe = named or calibration.get("probe")
        if named and load_probe(named).fingerprint() != calibration.get("probe_weights"):
            raise UserError(f"the calibration's bands are for another probe "
                            f"({calibration.get('probe')}): calibrate {named} itself")
        chosen.update(probe=probe, probe_low=float(calibration["probe_low"]),
                      probe_high=float(calibration["probe_high"]))
    return {**overrides, **chosen}, calibration


def _calibrate_probe(dataset: str, target, *, n, seed, out, options: ModelOptions, fields,
                     concurrency, progress, notify, vote_share) -> dict:
    """The probe method's bands: the probe's scores on calibration problems it was not
    trained on (those are left out), read from the specialist's prompt evaluation alone."""
    from math_router.evals.calibrate import VOTE_SHARE, probe_bands
    from math_router.evals.datasets import Fields, load_problems
    from math_router.evals.probe_training import read_states
    from math_router.factory import build_setup, default_concurrency, fitted_probe, model_identity

    notify = notify or _quiet
    vote_share = VOTE_SHARE if vote_share is None else vote_share
    probe = fitted_probe(options)
    if probe.reads_confidence:  # said before any model is built
        raise UserError("calibrate --probe sets the bands of a hidden-state probe from readings "
                        "alone; a logprobs probe needs greedy solutions: pass --probe-low and "
                        "--probe-high from its train-probe output")
    problems = load_problems(dataset, n, seed, fields or Fields(), notify)
    concurrency = concurrency or default_concurrency(options, ["slm"])
    setup = build_setup(["slm"], options, notify=notify, concurrency=concurrency)
    probe.check_specialist(model_identity(setup.specialist), options.specialist_mode)
    trained = set(probe.training.get("problem_ids") or [])
    kept = [p for p in problems if p.id not in trained]
    if len(kept) < len(problems):
        notify(f"left out {len(problems) - len(kept)} calibration problem(s) the probe was "
               "trained on")
    states = read_states(setup.specialist, [p.question for p in kept], concurrency=concurrency,
                         progress=progress)
    scores = [probe.probability(s) for s in states]
    bands = probe_bands(scores, target, vote_share)
    out = Path(out) if out else Path("results") / f"calibration_{time.strftime('%Y%m%d-%H%M%S')}"
    result = {"method": "probe", "threshold": options.threshold, **bands,
              "target": str(target), "target_spec": attrs.asdict(target), "met": True,
              "vote_share": vote_share, "probe": str(Path(options.probe).resolve()),
              "probe_weights": probe.fingerprint(), "dataset": dataset, "n": len(kept),
              "seed": seed, "problem_ids": [p.id for p in kept],
              "scores": [round(s, 6) for s in scores], "results": str(out),
              "date": time.strftime("%Y-%m-%d")}
    return _write_calibration(out, result)


def _job(names: list[str], opts: ModelOptions, run_info: dict, calibration: dict | None,
         concurrency: int | None, progress: bool, notify: Callable[[str], None],
         out: Path | None, max_cost: float | None = None, max_time: float | None = None):
    """The built models and how the job runs, and each method's settings.

    `concurrency` None: factory.default_concurrency (4 on a CPU, 64 when the specialist runs
    on a GPU), or with the Batch API every problem at once (up to BATCH_WORKERS), so that one
    round carries them all.
    """
    from math_router.evals.budget import Budget
    from math_router.evals.evaluation import Job
    from math_router.evals.folders import now
    from math_router.evals.provenance import environment
    from math_router.factory import (build_setup, default_concurrency, device, method_settings,
                                     served_models)

    if max_cost is not None and opts.batch_api:
        raise UserError("--max-cost with --batch-api: a batch round sends every problem at once, "
                        "before any cost is known; see the estimate with --dry-run, or leave "
                        "out --batch-api")
    if concurrency is None:
        concurrency = BATCH_WORKERS if opts.batch_api else default_concurrency(opts, names)
    setup = build_setup(names, opts, notify=notify, batch_out=out, concurrency=concurrency)
    rounds = setup.batch_rounds
    run_info = {**run_info, "started": now(),
                "environment": {**environment(), "device": device(setup)}}
    if calibration is not None:
        run_info["calibration"] = {k: calibration[k] for k in (
            "threshold", "target", "met", "achieved", "dataset", "n", "seed", "problem_ids",
            "llm_accuracy") if k in calibration}
    job = Job(setup, run_info, concurrency=concurrency, progress=progress, notify=notify,
              served_models=lambda: served_models(setup), workers=rounds,
              status=rounds.status if rounds is not None else None,
              budget=Budget(max_cost, max_time) if max_cost is not None or max_time is not None
              else None)
    return job, lambda method: method_settings(method, setup)


def _quiet(_: str) -> None:
    pass


def calibrate(dataset: str, target, *, n: int | None = CALIBRATION_N, seed: int = DEFAULT_SEED,
              out: str | Path | None = None, options: ModelOptions | None = None, fields=None,
              concurrency: int | None = None, progress: bool = True,
              notify: Callable[[str], None] | None = None, vote_share: float | None = None,
              **overrides) -> dict:
    """Choose the cascade's threshold on `dataset` (problems apart from the test set) for
    `target` (evals.calibrate.parse_target); writes and returns calibration.json's content.
    With a `probe` option: the probe method's bands instead (`vote_share` of the problems
    to the cascade's band)."""
    from math_router.evals.calibrate import ALL, calibration_result, parse_target

    target = parse_target(target) if isinstance(target, str) else target
    base = model_options(options, **overrides)
    if base.probe:
        return _calibrate_probe(dataset, target, n=n, seed=seed, out=out, options=base,
                                fields=fields, concurrency=concurrency, progress=progress,
                                notify=notify, vote_share=vote_share)
    opts = model_options(options, **{**overrides, "threshold": ALL,
                                     "cascade_escalates": target.kind == "accuracy"})
    methods = ["cascade", "llm"] if target.kind == "accuracy" else ["cascade"]
    out = Path(out) if out else Path("results") / f"calibration_{time.strftime('%Y%m%d-%H%M%S')}"
    run = evaluate(methods, dataset, n=n, seed=seed, out=out, concurrency=concurrency,
                   progress=progress, options=opts, notify=notify, fields=fields)
    return _write_calibration(out, calibration_result(run, target, dataset, seed, opts.samples_mix))


def _write_calibration(out: Path, result: dict) -> dict:
    """out/calibration.json (the cascade's or the probe's), written whole or not at all."""
    import json

    from math_router.evals.folders import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "calibration.json", json.dumps(result, indent=2) + "\n")
    return result


def train_probe(run_dirs: Iterable[str | Path] = (), *, out: str | Path,
                dataset: str = "gsm8k-train", n: int | None = 400, seed: int = DEFAULT_SEED,
                options: ModelOptions | None = None, concurrency: int | None = None,
                progress: bool = True, notify: Callable[[str], None] | None = None,
                features: str = "hidden", **overrides):
    """Fit a probe (probe.model.Probe) on `slm` runs' labels and the specialist's hidden states
    (`features="logprobs"`: its greedy solutions' confidence, recorded by runs made with
    --specialist-logprobs); writes out/probe.json and returns the probe.

    Without `run_dirs`, the specialist first answers `n` problems of `dataset` (greedy) into
    out/labels, an ordinary `slm` eval folder (rerunning resumes it). The labels' specialist
    must be the one `options` build: a probe learns one model's hidden state.
    """
    from math_router.evals.probe_training import labelled, read_states, train, write_probe
    from math_router.factory import build_setup, default_concurrency, model_identity
    from math_router.probe.model import CONFIDENCE
    from math_router.specialists.base import can_read

    notify = notify or _quiet
    if features not in ("hidden", "logprobs"):
        raise UserError(f"--features is hidden or logprobs, not {features!r}")
    opts = model_options(options, **overrides)
    if features == "logprobs":
        opts = attrs.evolve(opts, specialist_logprobs=True)
    out = Path(out)
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        labels = out / "labels"
        evaluate(["slm"], dataset, n=n, seed=seed, out=labels, concurrency=concurrency,
                 progress=progress, options=opts, notify=notify)
        run_dirs = [labels]
    data = labelled(run_dirs)
    if features == "logprobs":  # read from the records: nothing to run
        probe = train(data, data.confidence_matrix(), seed=seed, features=CONFIDENCE)
        write_probe(probe, out)
        return probe
    concurrency = concurrency or default_concurrency(opts, ["slm"])
    setup = build_setup(["slm"], opts, notify=notify, concurrency=concurrency)
    identity = model_identity(setup.specialist)
    if identity != data.specialist:
        raise UserError(f"the labels were made by another specialist ({data.specialist}); this "
                        f"run's --specialist is {identity}: pass the one that made them")
    if data.mode != opts.specialist_mode:
        raise UserError(f"the labels were made in --specialist-mode {data.mode}; pass it again")
    if not can_read(setup.specialist):
        raise UserError("the probe reads the specialist's hidden state: it needs a GGUF "
                        "specialist on the batched decoder (a GGUF --specialist, --batch on)")
    states = read_states(setup.specialist, data.questions,
                         concurrency=concurrency, progress=progress)
    probe = train(data, states, seed=seed)
    write_probe(probe, out)
    return probe


def plan(methods: str | Iterable[str] = "all", dataset: str = "gsm8k", *,
         n: int | None = DEFAULT_N, seed: int = DEFAULT_SEED, out: str | Path | None = None,
         options: ModelOptions | None = None, fields=None, calibration=None,
         **overrides) -> list[dict]:
    """What `evaluate` with these arguments would run and cost (evals.plan): nothing is built,
    sent or written (a --base-url server may be asked which model it serves)."""
    from math_router.evals.datasets import Fields, load_problems
    from math_router.evals.folders import EvalFolder

    names = method_list(methods)
    problems = load_problems(dataset, n, seed, fields or Fields())
    overrides, _ = _calibrated(overrides, calibration, problems, options)
    opts = model_options(options, **overrides)
    out = Path(out) if out else default_eval_out(dataset, names, n, seed)
    return _plan_rows(names, problems, {m: EvalFolder(out).results(m) for m in names}, opts)


def plan_answers(rows_or_path, method: str = "router", *, out: str | Path | None = None,
                 options: ModelOptions | None = None, fields=None, calibration=None,
                 **overrides) -> list[dict]:
    """What `solve_many` with these arguments would run and cost; nothing runs."""
    from math_router.evals.datasets import Fields, load_inputs
    from math_router.evals.folders import AnswerFolder

    (name,) = method_list([method])
    problems = load_inputs(str(rows_or_path), fields or Fields())
    overrides, _ = _calibrated(overrides, calibration, problems, options)
    opts = model_options(options, **overrides)
    path = AnswerFolder(Path(out)).answers if out is not None else None
    return _plan_rows([name], problems, {name: path}, opts)


def _plan_rows(names: list[str], problems, paths: dict, opts: ModelOptions) -> list[dict]:
    from math_router.evals.methods import NEEDS
    from math_router.evals.plan import SOURCE, TYPICAL, from_records, plan_row
    from math_router.evals.records import latest_records, read_records
    from math_router.factory import orchestrator_reference, orchestrator_runs_here

    rows = []
    ids = {p.id for p in problems}
    for name in names:
        model, local = "-", True
        if "orchestrator" in NEEDS[name]:
            model_opts = opts.llm_options() if name == "llm" else opts
            model, _ = orchestrator_reference(model_opts)
            local = orchestrator_runs_here(model_opts, model)
        path = paths.get(name)
        records = [r for r in latest_records(read_records(path)).values() if r["id"] in ids] \
            if path is not None and path.exists() else []
        finished = {r["id"] for r in records if r.get("error") is None}
        measured = from_records(records)
        source = f"{len(finished)} earlier records" if measured else SOURCE
        rows.append(plan_row(name, sum(p.id not in finished for p in problems), len(problems),
                             measured or TYPICAL[name], source, model, local, opts.prices))
    return rows
