#!/usr/bin/env python3
"""Command line: solve one question, run evals, report on them, check the setup.

This file parses flags, builds objects and prints; the logic lives in the packages.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shlex
import sys
from pathlib import Path

import attrs
import click

from math_router.engine.errors import ONE_LINE, BudgetReached, UserError
from math_router.engine.loop import ToolLimits
from math_router.evals.datasets import CALIBRATION_N, DEFAULT_N, DEFAULT_SEED
from math_router.evals.evaluation import BATCH_WORKERS
from math_router.evals.methods import METHODS, question_text
from math_router.engine.openai_models import EFFORTS
from math_router.options import CPU_CONCURRENCY, DEFAULT_API_MODEL, GPU_CONCURRENCY, ModelOptions
from math_router.server import ServerSettings
from math_router.specialists.base import SamplingParams
from math_router.specialists.modes import MODES

# Every default shown or used here is the options type's own: one source for each.
DEFAULTS = attrs.fields_dict(ModelOptions)
SERVER = attrs.fields_dict(ServerSettings)
CONCURRENCY_HELP = (f"Problems solved at once [default: {CPU_CONCURRENCY}, or {GPU_CONCURRENCY} when "
                    f"the specialist GGUF runs on a GPU (one decode step then carries them all); "
                    f"with --batch-api, every problem at once, up to {BATCH_WORKERS:,}, so one "
                    f"batch carries them].")
SAMPLING = SamplingParams()
SANDBOX = DEFAULTS["sandbox"].default


@contextlib.contextmanager
def user_errors():
    """A mistake the user can fix ends in one line and exit 1, never a traceback; a budget
    that stopped a job, in one line and exit 3 (BUDGET_EXIT)."""
    try:
        yield
    except BudgetReached as e:
        raise budget_stop(str(e)) from None
    except ONE_LINE as e:
        raise click.ClickException(str(e)) from None


# The exit status of a job a --max-cost or --max-time budget stopped (what finished is kept).
BUDGET_EXIT = 3


def budget_stop(message: str) -> click.ClickException:
    stop = click.ClickException(message)
    stop.exit_code = BUDGET_EXIT
    return stop


def budget_options(f):
    """--max-cost, --max-time, --dry-run and --resume, for the commands that answer many
    problems."""
    f = click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True,
                                                           path_type=Path), metavar="DIR",
                     help="Go on with the run in DIR: every setting read back from its "
                          "run.json (only --concurrency, --max-cost, --max-time, --dry-run "
                          "and the progress flags may come beside it).")(f)
    f = click.option("--dry-run", is_flag=True,
                     help="Print the plan (problems left per method, requests, tokens, the "
                          "estimated cost) and run nothing.")(f)
    f = click.option("--max-time", type=click.FloatRange(0, min_open=True), metavar="SECONDS",
                     help="Start no problem this many seconds after the first one started (those "
                          "in flight finish); exit status 3, the same command goes on.")(f)
    return click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
                        help="Start no problem that could take this run's spending past USD "
                             "(at list prices; cache hits are free): problems in flight "
                             "finish, results are kept, exit status 3; rerunning the same "
                             "command goes on, with USD to spend again.")(f)


@contextlib.contextmanager
def says_how_to_resume(out: Path | None):
    """Ctrl-C ends in one line naming the folder and the command that resumes it."""
    try:
        yield
    except (KeyboardInterrupt, click.exceptions.Abort):
        if out is None:
            raise
        name = sys.argv[1] if len(sys.argv) > 1 else "eval"
        if (out / "run.json").exists():  # it records the command: --resume reads it back
            command = f"math-router {name} --resume {shlex.quote(str(out))}"
        else:
            command = " ".join(shlex.quote(a) for a in ["math-router", *_without_secrets(sys.argv[1:])])
            if "--out" not in sys.argv:
                command += f" --out {shlex.quote(str(out))}"
        raise click.ClickException(f"interrupted: what finished is in {out}; to resume: "
                                   f"{command}") from None


def _without_secrets(args: list[str]) -> list[str]:
    """The arguments with every key left out (a key is read from the environment again)."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--api-key", "--server-api-key"):
            skip = True
        elif not arg.startswith(("--api-key=", "--server-api-key=")):
            kept.append(arg)
    return kept


# Not recorded in run.json's command: where it goes, how it runs now, and secrets (a key is
# read from the environment again on resume).
NOT_RECORDED = {"out", "resume", "dry_run", "max_cost", "max_time", "concurrency", "no_progress",
                "progress", "api_key", "server_api_key", "as_jsonl"}
# What --resume DIR may be given beside it: how this run goes, never what it computes.
WITH_RESUME = {"concurrency", "no_progress", "progress", "max_cost", "max_time", "dry_run",
               "api_key"}


def recorded_command(ctx: click.Context) -> list[str]:
    """The command as run.json keeps it, so `--resume DIR` can run it again: the arguments and
    options given on the command line (click's ParameterSource), bar NOT_RECORDED (secrets
    never)."""
    args = [ctx.command.name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in NOT_RECORDED or not _typed(ctx, param.name) or value is None:
            continue
        if isinstance(param, click.Argument):
            args.append(str(value))
        elif param.is_flag:
            if value or param.secondary_opts:  # a plain flag set false is its default: nothing
                args.append(param.opts[0] if value else param.secondary_opts[0])
        else:
            for one in (value if param.multiple else [value]):
                args += [param.opts[0], _as_text(one)]
    return args


def _typed(ctx: click.Context, name: str, config: bool = True) -> bool:
    """Given by the user: on the command line (or, with `config`, in the --config file)."""
    sources = {click.core.ParameterSource.COMMANDLINE}
    if config:
        sources.add(click.core.ParameterSource.DEFAULT_MAP)
    return ctx.get_parameter_source(name) in sources


def _as_text(value) -> str:
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return ",".join(f"{a}:{b}" for a, b in value)  # --samples-mix cot:2,tir:2
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def resume_from(ctx: click.Context, folder: Path) -> None:
    """Run the command recorded in FOLDER/run.json again into FOLDER (each flag as it was);
    only the flags of WITH_RESUME may come beside --resume."""
    from math_router.evals.folders import read_json

    given = sorted(f"--{name.replace('_', '-')}" for name in ctx.params
                   if name not in WITH_RESUME | {"resume"} and _typed(ctx, name, config=False))
    if given:
        raise click.ClickException(f"--resume reads every setting from {folder}/run.json; "
                                   f"leave out {', '.join(given)}")
    with user_errors():
        info = read_json(folder / "run.json") if (folder / "run.json").exists() else {}
    command = info.get("command")
    if not command or command[0] != ctx.command.name:
        raise click.ClickException(f"{folder} holds no `{ctx.command.name}` run to resume "
                                   "(run.json records the command of runs made from this version on)")
    now = [a for name in sorted(WITH_RESUME) if _typed(ctx, name, config=False)
           for a in _flag(ctx, name)]
    notify(f"resuming: math-router {' '.join(command)} --out {folder}")
    ctx.command.main(command[1:] + ["--out", str(folder)] + now, standalone_mode=False,
                     prog_name=ctx.command_path)


def _flag(ctx: click.Context, name: str) -> list[str]:
    param = next(p for p in ctx.command.params if p.name == name)
    value = ctx.params[name]
    if param.is_flag:
        return [param.opts[0] if value else param.secondary_opts[0]]
    return [param.opts[0], str(value)]


def load_config(ctx: click.Context, param, path: Path | None) -> None:
    """--config FILE: a TOML file whose keys are the command's flags (`model = "gpt-6-luna"`,
    `specialist-max-tokens = 2048`, `no-cache = true`, `price = ["m=0.1,0.5"]`); a table
    named after a command (`[eval]`) holds settings for that command alone. They become the
    flags' defaults (click's default_map), so a flag on the command line wins. A key no
    command knows is refused in one line; one another command knows is left to it."""
    if path is None:
        return
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise click.BadParameter(f"{path} is not a TOML file: {e}", ctx, param) from None
    commands = cli.commands
    known = {_key(opt): p.name for command in commands.values() for p in command.params
             for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")}
    mine = {_key(opt): p.name for p in ctx.command.params
            for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")}
    values = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in commands:
                raise click.BadParameter(f"{path}: [{key}] is not a command "
                                         f"({', '.join(sorted(commands))})", ctx, param)
            pairs = value.items() if key == ctx.command.name else []
        else:
            pairs = [(key, value)]
        for name, setting in pairs:
            if _key(name) not in known:
                raise click.BadParameter(f"{path}: {name} is not a flag of any command", ctx, param)
            if _key(name) in mine and _key(name) not in ("config",):
                values[mine[_key(name)]] = _negated(ctx, _key(name), setting)
    ctx.default_map = {**(ctx.default_map or {}), **values}


def _key(flag: str) -> str:
    return flag.lstrip("-").replace("_", "-")


def _negated(ctx: click.Context, key: str, value):
    """`no-cache = true` sets the no_cache flag; for an --x/--no-x pair, `no-x = true` is x off."""
    param = next(p for p in ctx.command.params
                 if key in (_key(o) for o in (*p.opts, *p.secondary_opts)))
    if param.secondary_opts and key in (_key(o) for o in param.secondary_opts):
        return not value
    return value


def model_options(f):
    """Flags shared by every command that runs models."""
    options = [
        click.option("--config", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     is_eager=True, expose_value=False, callback=load_config, metavar="TOML",
                     help="Settings from a TOML file: the flags' names as keys (model = "
                          "\"gpt-6-luna\", specialist-max-tokens = 2048), [eval] and the like "
                          "for one command; flags on the command line win."),
        click.option("--model",
                     help="Orchestrator: an API model name, or a GGUF (path, hf:REPO/FILE, alias). "
                          f"[default: {DEFAULT_API_MODEL} with an OpenAI key (OpenAI's replacement "
                          "for gpt-4o-mini, which leaves the API on 2027-01-14); the one model a "
                          "--base-url server serves; else the local GGUF qwen2.5-1.5b-instruct]"),
        click.option("--reasoning-effort", type=click.Choice(list(EFFORTS)),
                     help="Orchestrator's reasoning effort, sent on every turn [default: none on "
                          "turns that offer tools to a model that reasons by default (gpt-6-luna "
                          "takes tools in Chat Completions only at none), nothing elsewhere]."),
        click.option("--base-url", envvar="OPENAI_BASE_URL",
                     help="OpenAI-compatible endpoint of the orchestrator [env: OPENAI_BASE_URL]."),
        click.option("--api-key", envvar="OPENAI_API_KEY", show_envvar=False,
                     help="API key of the orchestrator [env: OPENAI_API_KEY]; never printed."),
        click.option("--specialist", default=DEFAULTS["specialist"].default, show_default=True,
                     help="Specialist: http(s) URL of an OpenAI-compatible server, or a GGUF "
                          "(path, hf:REPO/FILE, alias)."),
        click.option("--specialist-model", help="Model name the specialist server serves."),
        click.option("--specialist-max-tokens", type=click.IntRange(16),
                     default=DEFAULTS["specialist_max_tokens"].default,
                     show_default=True, help="Longest specialist solution, in tokens."),
        click.option("--orchestrator-max-tokens", type=click.IntRange(16),
                     help="Longest orchestrator reply per turn [default: the API's; 1024 locally]."),
        click.option("--gpu-layers", type=int,
                     help="Layers to offload to the GPU (-1 all, 0 none). Default: all when "
                          "llama.cpp was built with GPU support."),
        click.option("--threads", type=click.IntRange(1),
                     help="CPU threads for llama.cpp [default: the physical cores]. With another "
                          "llama.cpp process on the machine, split the cores between them: "
                          "oversubscribed threads spin and slow both down several-fold."),
        click.option("--max-turns", type=click.IntRange(1), default=DEFAULTS["max_turns"].default,
                     show_default=True,
                     help="Most orchestrator calls per question."),
        click.option("--max-tool-calls", type=click.IntRange(1),
                     default=DEFAULTS["tool_limits"].default.per_turn, show_default=True,
                     help="Most tool calls run per orchestrator turn; each one past it is answered "
                          "with an error."),
        click.option("--max-tool-calls-per-problem", type=click.IntRange(1),
                     default=DEFAULTS["tool_limits"].default.per_problem, show_default=True,
                     help="Most tool calls run per question, in all its turns."),
        click.option("--no-force-tool", is_flag=True,
                     help="Let the router's orchestrator decide whether to call slm_help at all."),
        click.option("--price", "prices", multiple=True, metavar="NAME=IN,OUT",
                     help="USD per million input,output tokens for a model missing from the "
                          "price table (repeatable)."),
        click.option("--timeout", type=click.FloatRange(1), default=DEFAULTS["timeout"].default,
                     show_default=True,
                     help="Seconds one API exchange may take in all, connect and headers to the "
                          "last byte (the SDK retries twice first)."),
        click.option("--no-cache", is_flag=True,
                     help="Call the models even when the response cache has the answer."),
        click.option("--no-batch", is_flag=True,
                     help="Decode GGUF specialist calls one at a time instead of together."),
        click.option("--batch-api", is_flag=True,
                     help="eval, solve --input: send the orchestrator's calls through the OpenAI "
                          "Batch API (half the price, answered within 24 h), gathered into one "
                          "batch per round; recorded in --out so a rerun never pays twice."),
        click.option("--batch-poll", type=click.FloatRange(0.01), metavar="SECONDS",
                     default=DEFAULTS["batch_poll"].default, show_default=True,
                     help="--batch-api: seconds between checks of a running batch."),
        click.option("--samples", type=click.IntRange(1, 64), default=SAMPLING.k, show_default=True,
                     help="cascade: solutions the specialist samples per problem."),
        click.option("--threshold", type=click.FloatRange(0, 1.01),
                     default=DEFAULTS["threshold"].default, show_default=True,
                     help="cascade: escalate to the orchestrator when the majority's share is "
                          "below this (1.01: always)."),
        click.option("--specialist-logprobs", is_flag=True,
                     help="Greedy specialist solutions also record their tokens' "
                          "log-probabilities (the confidence a `train-probe --features "
                          "logprobs` probe learns from; a GGUF on the batched decoder, or a "
                          "server that returns logprobs)."),
        click.option("--probe", type=click.Path(dir_okay=False), metavar="PROBE_JSON",
                     help="probe: a probe.json from `train-probe` (fitted on this specialist)."),
        click.option("--probe-low", type=click.FloatRange(0, 1),
                     default=DEFAULTS["probe_low"].default, show_default=True,
                     help="probe: below this P(specialist right), the orchestrator answers "
                          "alone (nothing decoded); `calibrate --probe` chooses it."),
        click.option("--probe-high", type=click.FloatRange(0, 1),
                     default=DEFAULTS["probe_high"].default, show_default=True,
                     help="probe: at or above it, one greedy specialist solution answers; "
                          "between the two, the vote cascade."),
        click.option("--sample-temperature", type=click.FloatRange(0.01, 2),
                     default=SAMPLING.temperature,
                     show_default=True, help="cascade: sampling temperature."),
        click.option("--sample-top-p", type=click.FloatRange(0.01, 1), default=SAMPLING.top_p,
                     show_default=True, help="cascade: nucleus sampling mass."),
        click.option("--sample-top-k", type=click.IntRange(0), default=SAMPLING.top_k,
                     show_default=True,
                     help="cascade: sample among this many likeliest tokens (0: all; GGUF only)."),
        click.option("--specialist-mode", type=click.Choice(list(MODES)),
                     default=DEFAULTS["specialist_mode"].default, show_default=True,
                     help="cot: reason in prose; tir: write Python, run it in the sandbox, read "
                          "its output (Qwen2.5-Math's tool-integrated reasoning)."),
        click.option("--samples-mix", type=SamplesMix(), metavar="MODE:K,...",
                     help="cascade: samples per mode in one vote, e.g. cot:2,tir:2 (instead of "
                          "--samples K in --specialist-mode)."),
        click.option("--tools", "tool_names", multiple=True, type=click.Choice(["python"]),
                     help="More tools for the router's and the cascade's orchestrator beside "
                          "slm_help (repeatable): python, the sandboxed executor."),
        click.option("--specialist-tool", "specialist_tool_refs", multiple=True,
                     metavar="NAME=MODEL",
                     help="A second specialist model as a tool the orchestrator may call "
                          "(repeatable): NAME=a GGUF (path, alias, hf:REPO/FILE) run here, or "
                          "NAME=URL of an OpenAI-compatible server (NAME=URL#MODEL_NAME)."),
        click.option("--specialist-tool-prompt", "specialist_tool_prompts", multiple=True,
                     metavar="NAME=FILE", help="The system prompt of specialist tool NAME, read "
                                               "from FILE."),
        click.option("--tool", "tool_refs", multiple=True, metavar="MODULE:FUNCTION|NAME",
                     help="A tool of your own for the orchestrator (repeatable): a function "
                          "(its type hints and docstring make the schema), or the name of a tool "
                          "an installed package offers (entry point group math_router.tools)."),
        click.option("--llm-model",
                     help="The llm baseline's model when it is not the orchestrator (e.g. "
                          "gpt-6-sol beside --model gpt-6-luna); cost_vs_llm is against it."),
        click.option("--llm-reasoning-effort", type=click.Choice(list(EFFORTS)),
                     help="The llm baseline's reasoning effort [default: none sent, the API's "
                          "own (medium for gpt-6-luna): the model as users call it]."),
        click.option("--router-samples", type=click.IntRange(1, 64),
                     default=DEFAULTS["router_samples"].default, show_default=True,
                     help="router: slm_help samples this many solutions and reports their vote."),
        click.option("--model-first-call", is_flag=True,
                     help="router: let the orchestrator write its forced first slm_help call "
                          "(default: the router sends the problem itself and saves that turn)."),
        click.option("--no-agree-stop", is_flag=True,
                     help="router: with --router-samples > 1, always give the orchestrator a "
                          "second turn (default: an agreed vote at --threshold or more ends it)."),
        click.option("--code-timeout", type=click.FloatRange(0.5), default=SANDBOX.timeout,
                     show_default=True, help="Sandbox: wall-clock seconds per program."),
        click.option("--code-cpu", type=click.IntRange(1), default=SANDBOX.cpu_seconds,
                     show_default=True, help="Sandbox: CPU seconds per program."),
        click.option("--code-memory", type=click.IntRange(64), default=SANDBOX.memory_mb,
                     show_default=True, help="Sandbox: address space per program, MB."),
        click.option("--code-processes", type=click.IntRange(1), default=SANDBOX.max_processes,
                     show_default=True, help="Sandbox: most processes a program may run."),
        click.option("--code-output", type=click.IntRange(100), default=SANDBOX.output_chars,
                     show_default=True, help="Sandbox: characters of output kept."),
        click.option("--code-total-memory", type=click.IntRange(64),
                     default=SANDBOX.total_memory_mb, show_default=True,
                     help="Sandbox: MB for all of a program's processes together (memory cgroup)."),
        click.option("--code-disk", type=click.IntRange(1), default=SANDBOX.disk_mb,
                     show_default=True, help="Sandbox: MB its folder may hold."),
    ]
    return functools.reduce(lambda acc, option: option(acc), reversed(options), f)


# Flags that say the opposite of their field (--no-cache is cache=False).
NEGATED = {"no_force_tool": "force_tool", "no_cache": "cache", "no_batch": "batch",
           "no_agree_stop": "agree_stop", "model_first_call": "direct_first_call"}


def make_options(kw: dict) -> ModelOptions:
    """The flags as ModelOptions: a flag named like a field is that field (a new knob is a
    field and a click option of its name); the flags composed into one field are here."""
    from math_router.engine.pricing import parse_price
    from math_router.sandbox.executor import SandboxLimits

    values = {name: kw[name] for name in attrs.fields_dict(ModelOptions) if name in kw}
    values.update({field: not kw[flag] for flag, field in NEGATED.items()})
    values.update(
        prices=dict(parse_price(p) for p in kw["prices"]), samples_mix=kw["samples_mix"] or (),
        tools=tuple(kw["tool_names"]) + tuple(kw["tool_refs"]),
        specialist_tools=specialist_tools(kw["specialist_tool_refs"], kw["specialist_tool_prompts"]),
        tool_limits=ToolLimits(kw["max_tool_calls"], kw["max_tool_calls_per_problem"]),
        sampling=SamplingParams(k=kw["samples"], temperature=kw["sample_temperature"],
                                top_p=kw["sample_top_p"], top_k=kw["sample_top_k"]),
        sandbox=SandboxLimits(timeout=kw["code_timeout"], cpu_seconds=kw["code_cpu"],
                              memory_mb=kw["code_memory"], max_processes=kw["code_processes"],
                              output_chars=kw["code_output"],
                              total_memory_mb=kw["code_total_memory"], disk_mb=kw["code_disk"]))
    return ModelOptions(**values)


def specialist_tools(refs: tuple[str, ...], prompts: tuple[str, ...]) -> tuple:
    """--specialist-tool NAME=MODEL and --specialist-tool-prompt NAME=FILE, as
    ModelOptions.specialist_tools: (name, model, prompt text or None)."""
    def pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
        out = {}
        for value in values:
            name, sep, rest = value.partition("=")
            if not sep or not name or not rest:
                raise click.BadParameter(f"{value!r}: write NAME=...", param_hint=flag)
            out[name] = rest
        return out

    models = pairs(refs, "--specialist-tool")
    texts = {}
    for name, path in pairs(prompts, "--specialist-tool-prompt").items():
        if name not in models:
            raise click.BadParameter(f"{name}: no --specialist-tool {name}=MODEL",
                                     param_hint="--specialist-tool-prompt")
        try:
            texts[name] = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise click.BadParameter(f"cannot read {path}: {e}",
                                     param_hint="--specialist-tool-prompt") from None
    return tuple((name, model, texts.get(name)) for name, model in models.items())


class MethodList(click.ParamType):
    """A comma list of method names, or "all" (api.ALL_METHODS)."""

    name = "methods"

    def convert(self, value, param, ctx):
        from math_router.api import method_list

        if isinstance(value, list):
            return value
        try:
            return method_list(value)
        except UserError as e:
            self.fail(str(e), param, ctx)


class SamplesMix(click.ParamType):
    """cot:2,tir:2 -> (("cot", 2), ("tir", 2))."""

    name = "mix"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = []
        for part in value.split(","):
            mode, _, count = part.strip().partition(":")
            if mode not in MODES or not count.isdigit() or int(count) < 1:
                self.fail(f"{part!r}: write MODE:K with MODE {' or '.join(MODES)}, e.g. cot:2,tir:2",
                          param, ctx)
            parts.append((mode, int(count)))
        if sum(k for _, k in parts) > 64:
            self.fail("at most 64 samples in all", param, ctx)
        return tuple(parts)


class ProblemCount(click.ParamType):
    """A number of problems, or "all"."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or value == "all" or isinstance(value, int):
            return None if value == "all" else value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor all", param, ctx)
        if number < 1:
            self.fail("must be at least 1", param, ctx)
        return number


def notify(note: str) -> None:
    click.echo(note, err=True)


# --help in groups, in this order (a flag not named here goes under "Other options").
HELP_GROUPS = (
    ("Server", {"host", "port", "served", "server_api_key", "max_concurrency", "read_seconds",
                "max_connections_per_client", "max_connections", "max_queue",
                "max_question_chars"}),
    ("What to run", {"method", "dataset", "n", "seed", "input_path", "question_fields",
                     "answer_field", "id_field", "calibration", "target", "vote_share",
                     "features", "config"}),
    ("Output and progress", {"out", "as_json", "as_jsonl", "progress", "no_progress", "no_plots",
                             "latency_sample",
                             "log_path", "log_questions", "access_log"}),
    ("Budget and resuming", {"max_cost", "max_time", "dry_run", "resume", "concurrency"}),
    ("Orchestrator", {"model", "base_url", "api_key", "llm_model", "reasoning_effort",
                      "llm_reasoning_effort", "orchestrator_max_tokens", "max_turns", "timeout",
                      "prices", "batch_api", "batch_poll", "no_cache"}),
    ("Specialist", {"specialist", "specialist_model", "specialist_max_tokens", "specialist_mode",
                    "specialist_logprobs", "gpu_layers", "threads", "no_batch"}),
    ("Router, cascade and probe", {"no_force_tool", "model_first_call", "router_samples",
                                   "no_agree_stop", "samples", "threshold", "sample_temperature",
                                   "sample_top_p", "sample_top_k", "samples_mix", "probe",
                                   "probe_low", "probe_high"}),
    ("Tools and the Python sandbox", {"tool_names", "tool_refs", "specialist_tool_refs",
                                      "specialist_tool_prompts", "max_tool_calls",
                                      "max_tool_calls_per_problem", "code_timeout", "code_cpu",
                                      "code_memory", "code_processes", "code_output",
                                      "code_total_memory", "code_disk"}),
    ("Help", {"help", "_click_default_help"}),
)


class GroupedHelp(click.Command):
    """A command whose --help lists its options in HELP_GROUPS' sections, not as one list
    of fifty (click has no option groups of its own)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = next((t for t, names in HELP_GROUPS if param.name in names), "Other options")
            sections.setdefault(title, []).append(record)
        for title in [t for t, _ in HELP_GROUPS[:-1]] + ["Other options", HELP_GROUPS[-1][0]]:
            if sections.get(title):
                with formatter.section(title):
                    formatter.write_dl(sections[title])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="math-router", prog_name="math-router",
                      message="%(prog)s %(version)s")
def cli():
    """Solve math word problems with a large orchestrator that delegates to a small specialist.

    \b
    Examples:
      python cli.py solve "What is 27*14+15?"
      python cli.py solve "..." --method slm --specialist ./model.gguf --json
      python cli.py eval --method all --n 20 --dataset gsm8k
    """


cli.command_class = GroupedHelp  # every command's --help in sections


def field_options(f):
    """Which fields of a file's rows hold the question, the answer and the id (eval, solve --input)."""
    options = [
        click.option("--question-field", "question_fields", multiple=True, metavar="FIELD",
                     help="The field holding the question (repeatable: SVAMP's Body and Question "
                          "are joined with a space). Default: question or problem."),
        click.option("--answer-field", metavar="FIELD",
                     help="The field holding the answer (\"9 (apples)\" is read as 9). Default: "
                          "answer."),
        click.option("--id-field", metavar="FIELD",
                     help="The field holding each problem's id. Default: id or unique_id, else "
                          "FILE-ROW."),
    ]
    return functools.reduce(lambda acc, option: option(acc), reversed(options), f)


def fields_of(kw: dict):
    from math_router.evals.datasets import Fields

    return Fields(tuple(kw.pop("question_fields")), kw.pop("answer_field"), kw.pop("id_field"))


@cli.command()
@click.argument("question", required=False)
@click.option("--input", "input_path", metavar="FILE|-",
              help="Answer every row of a file of your own problems (JSONL, JSON list, CSV, "
                   "Parquet; - for JSONL on stdin) instead of one QUESTION; rows need no answer.")
@click.option("--method", type=click.Choice(list(METHODS)), default="router", show_default=True,
              help="router (orchestrator + slm_help), llm (orchestrator alone), slm (specialist "
                   "alone), cascade (specialist samples; orchestrator only when they disagree).")
@field_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="--input: the folder for answers.jsonl, answers.csv and summary.json; an "
                   "existing one resumes. [default: results/answers_<input>_<method>; none with "
                   "--jsonl]")
@click.option("--jsonl", "as_jsonl", is_flag=True,
              help="--input: print each answer as one JSON line on stdout as it finishes.")
@click.option("--concurrency", type=click.IntRange(1),
              help="--input: " + CONCURRENCY_HELP[0].lower() + CONCURRENCY_HELP[1:])
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="A calibration.json from `calibrate`: its threshold for the cascade and the "
                   "router's agree-and-stop rule.")
@budget_options
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--progress/--no-progress", default=None,
              help="Say each step (a QUESTION) or show a progress bar (--input) on stderr "
                   "[default: on a terminal].")
def solve(question, input_path, method, out, as_jsonl, concurrency, calibration, as_json,
          progress, max_cost, max_time, dry_run, resume, **kw):
    """Answer one QUESTION and show how it was answered, or every problem of --input FILE.

    \b
    Examples:
      math-router solve "What is 27*14+15?"
      math-router solve --input homework.jsonl --method cascade --out answers/
      cat homework.jsonl | math-router solve --input - --jsonl > answers.jsonl

    With --input, each answer is appended to OUT/answers.jsonl as it finishes;
    rerun the same command to resume after a kill (finished rows are skipped,
    errors retried). Exits 1 when a row ended in an error.
    """
    from math_router import api
    from math_router.engine.progress import reporting

    ctx = click.get_current_context()
    if resume is not None:
        return resume_from(ctx, resume)
    fields = fields_of(kw)
    if progress is None:
        progress = sys.stderr.isatty()
    if input_path is None:
        extra = [flag for flag, given in (("--out", out), ("--jsonl", as_jsonl),
                                          ("--question-field", fields.question),
                                          ("--answer-field", fields.answer),
                                          ("--id-field", fields.id)) if given]
        if question is None:
            raise click.ClickException("give a QUESTION, or --input FILE for a file of them")
        with user_errors():
            question_text(question)
        if kw["batch_api"]:
            extra.append("--batch-api")
        extra += [flag for flag, given in (("--max-cost", max_cost), ("--max-time", max_time),
                                           ("--dry-run", dry_run or None), ("--resume", resume))
                  if given is not None]
        if extra:
            raise click.ClickException(f"{', '.join(extra)}: only with --input FILE, not a QUESTION")
        steps = reporting(notify) if progress else contextlib.nullcontext()
        with user_errors(), steps:
            result = api.solve(question, method, options=make_options(kw), notify=notify,
                               calibration=calibration).as_dict()
        if as_json:
            click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_solution(result)
        return
    if question is not None:
        raise click.ClickException("give a QUESTION or --input FILE, not both")
    if as_json:
        raise click.ClickException("--json prints one answer; with --input use --jsonl")
    if out is None and not as_jsonl:
        out = api.default_answers_out(input_path, method)
    if dry_run:
        from math_router.evals.plan import plan_text

        with user_errors():
            rows = api.plan_answers(input_path, method, out=out, options=make_options(kw),
                                    fields=fields, calibration=calibration)
        click.echo(plan_text(rows))
        return
    errors = answered = 0
    stopped = None
    with user_errors(), says_how_to_resume(out):
        try:
            for record in api.solve_many(input_path, method, out=out, concurrency=concurrency,
                                         progress=progress, options=make_options(kw),
                                         notify=notify, fields=fields, calibration=calibration,
                                         max_cost=max_cost, max_time=max_time,
                                         command=recorded_command(ctx)):
                answered += 1
                errors += record["error"] is not None
                if as_jsonl:
                    click.echo(json.dumps(record, ensure_ascii=False))
        except BudgetReached as e:
            stopped = str(e)  # the summary first, then the stop
    if out is not None:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        click.echo(summary_line(summary), err=as_jsonl)
        click.echo(f"wrote {out}/answers.jsonl, answers.csv and summary.json", err=as_jsonl)
    else:
        notify(f"{answered} answered, {errors} error(s)")
    if stopped:
        raise budget_stop(stopped)
    if errors:
        raise click.ClickException(f"{errors} problem(s) ended in an error (see 'error' in the "
                                   "answers); rerun the same command to retry them")


def summary_line(summary: dict) -> str:
    """What a solve --input job did, in one line."""
    text = (f"{summary['method']}: {summary['answered']} of {summary['problems']} answered"
            + (f", {summary['errors']} error(s)" if summary["errors"] else "")
            + f"; {format_cost(summary['total_cost_usd'])}")
    if summary["cost_per_problem_usd"] is not None:
        text += f" (${summary['cost_per_problem_usd']:.6f} per problem)"
    if "escalation_rate" in summary:
        text += f"; escalated {summary['escalation_rate']:.1%}"
    if summary["graded"]:
        low, high = summary["accuracy_ci"]
        text += (f"; accuracy {summary['accuracy']:.1%} [{low:.0%}, {high:.0%}] on "
                 f"{summary['graded']} rows with an answer")
    return text


def print_solution(result: dict) -> None:
    click.echo(result["answer"] if result["answer"] is not None else "(no final answer found)")
    vote = result["vote"]  # the JSON that --json prints
    if vote is not None:
        votes = ", ".join(f"{c['answer']} x{c['count']}" for c in vote["candidates"]) or "none"
        click.echo(f"  samples: {votes}; agreement {vote['agreement']:.2f} "
                   f"{'<' if vote['escalated'] else '>='} {vote['threshold']:.2f}, "
                   f"{'escalated to the orchestrator' if vote['escalated'] else 'majority answer'}")
    for call in result["tool_calls"]:
        args = json.dumps(call["arguments"], ensure_ascii=False)
        if len(args) > 100:
            args = args[:97] + "..."
        flag = "  [error]" if call["is_error"] else ""
        click.echo(f"  tool {call['name']}({args})  {call['seconds']:.2f} s{flag}")
    for component, usage in result["usage"].items():
        if not (usage["calls"] or usage["cached_calls"]):
            continue
        model = result["models"].get(component, "?")
        cost = result["component_cost_usd"].get(component)
        where = "local" if component in result["local"] else format_cost(cost)
        cached = f", {usage['cached_calls']} cached" if usage["cached_calls"] else ""
        click.echo(f"  {component} ({model}): {usage['calls']} call(s){cached}, "
                   f"{usage['input_tokens']} in / {usage['output_tokens']} out tokens"
                   + (f" ({usage['reasoning_tokens']} reasoning)" if usage.get("reasoning_tokens") else "")
                   + ", "
                   f"{result['component_seconds'].get(component, 0):.2f} s, {where}")
    click.echo(f"  total: {result['seconds']:.2f} s, {format_cost(result['cost_usd'])}")
    if result["stopped"] == "max_turns":
        click.echo("  stopped: the orchestrator reached --max-turns before answering")


@cli.command("eval")
@click.option("--method", type=MethodList(), default="all", show_default=True,
              help="llm, router, slm, cascade, probe, a comma list of them, or all "
                   "(llm,router,slm,cascade: every method that needs only the models).")
@click.option("--dataset", default="gsm8k", show_default=True,
              help="gsm8k, gsm8k-train, math500 (the Hub, or the offline copies in data/), or a file: "
                   ".jsonl, .json, .csv, .parquet.")
@field_options
@click.option("--n", type=ProblemCount(), default=str(DEFAULT_N), show_default=True,
              help="How many problems, sampled with --seed, or all.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Results folder; an existing one resumes. [default: "
                   "results/<dataset>_<methods>_n<N>_seed<S>: the same command resumes it]")
@click.option("--concurrency", type=click.IntRange(1),
              help=CONCURRENCY_HELP)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="A calibration.json from `calibrate`: its threshold (chosen on other "
                   "problems) for the cascade and the router's agree-and-stop rule.")
@click.option("--latency-sample", type=click.IntRange(0), default=0, metavar="N",
              help="Then answer the first N problems of each method again, one at a time and "
                   "without the response cache (paid again): seconds per problem alone, not "
                   "shared with --concurrency others (report: 'median s alone').")
@budget_options
@model_options
def eval_command(method, dataset, n, seed, out, concurrency, no_progress, calibration, max_cost,
                 max_time, dry_run, resume, latency_sample, **kw):
    """Run methods on the same sample of problems and compare them.

    Each finished problem is appended to OUT/results_<method>.jsonl at once;
    rerun the same command with the same --out to resume after a kill (and to
    retry the problems that ended in an error). Exits 1 when any did.
    """
    from math_router import api
    from math_router.evals.report import tradeoff_table

    ctx = click.get_current_context()
    if resume is not None:
        return resume_from(ctx, resume)
    fields = fields_of(kw)
    out = out or api.default_eval_out(dataset, method, n, seed)
    if dry_run:
        from math_router.evals.plan import plan_text

        with user_errors():
            rows = api.plan(method, dataset, n=n, seed=seed, out=out, options=make_options(kw),
                            fields=fields, calibration=calibration)
        click.echo(plan_text(rows))
        return
    with user_errors(), says_how_to_resume(out):
        run = api.evaluate(method, dataset, n=n, seed=seed, out=out, concurrency=concurrency,
                           progress=not no_progress, options=make_options(kw), notify=notify,
                           fields=fields, calibration=calibration, max_cost=max_cost,
                           max_time=max_time, command=recorded_command(ctx),
                           latency_sample=latency_sample)
    click.echo(tradeoff_table(run.comparison))
    click.echo(f"\nwrote {run.out}/comparison.json; python cli.py report {run.out} for the rest")
    if run.stopped:
        from math_router.evals.budget import stopped_line

        raise budget_stop(stopped_line(run.stopped, run.out))
    if run.errors:
        raise click.ClickException(f"{run.errors} problem(s) ended in an error and are counted apart "
                                   f"(see 'error' in {run.out}/results_*.jsonl); rerun the same "
                                   "command to retry them")


@cli.command("train-probe")
@click.argument("run_dirs", nargs=-1, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for probe.json (and, without RUN_DIRS, the labelling run).")
@click.option("--dataset", default="gsm8k-train", show_default=True,
              help="Without RUN_DIRS: the problems the specialist answers for labels (keep them "
                   "apart from the test set).")
@click.option("--n", type=ProblemCount(), default="400", show_default=True,
              help="Without RUN_DIRS: how many.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--features", type=click.Choice(["hidden", "logprobs"]), default="hidden",
              show_default=True,
              help="hidden: the specialist's hidden state, read before it writes (a GGUF); "
                   "logprobs: its greedy solution's token log-probabilities, read from runs "
                   "made with --specialist-logprobs (any specialist that returns them).")
@click.option("--concurrency", type=click.IntRange(1),
              help=f"Prompts read at once [default: {CPU_CONCURRENCY}, or {GPU_CONCURRENCY} "
                   f"on a GPU].")
@click.option("--no-progress", is_flag=True)
@model_options
def train_probe(run_dirs, out, dataset, n, seed, features, concurrency, no_progress, **kw):
    """Fit a probe that tells, before the specialist writes, whether it will be right.

    RUN_DIRS are `eval --method slm` folders (each record says whether the greedy answer was
    right); without them the specialist first answers --n problems of --dataset into
    OUT/labels (resumable). The probe reads the specialist's hidden state at the question's
    last prompt token (scikit-learn fits it: pip install 'math-router[probe]'), and is
    judged on a held-out quarter. Use it with `--method probe --probe OUT/probe.json`.

    \b
    Example:
      math-router eval --method slm --dataset gsm8k-train --n 400 --out runs/labels
      math-router train-probe runs/labels --out runs/probe
    """
    from math_router import api
    from math_router.evals.probe_training import describe

    with user_errors():
        probe = api.train_probe(run_dirs, out=out, dataset=dataset, n=n, seed=seed,
                                features=features, options=make_options(kw),
                                concurrency=concurrency,
                                progress=not no_progress, notify=notify)
    click.echo(describe(probe))
    click.echo(f"wrote {out / 'probe.json'}; use it with --method probe --probe {out / 'probe.json'}")


@cli.command()
@click.option("--dataset", default="gsm8k-train", show_default=True,
              help="Calibration problems, disjoint from the test set: gsm8k-train, or a file.")
@click.option("--n", type=ProblemCount(), default=str(CALIBRATION_N), show_default=True)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--target", required=True, metavar="escalate:SHARE|accuracy:llm",
              help="escalate:0.2 (escalate at most 20% of problems; the votes alone decide, no "
                   "orchestrator calls) or accuracy:llm (no less accurate than the llm).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the calibration run and calibration.json.")
@click.option("--concurrency", type=click.IntRange(1),
              help=f"Problems solved at once [default: {CPU_CONCURRENCY}, or {GPU_CONCURRENCY} "
                   f"when the specialist GGUF runs on a GPU].")
@click.option("--vote-share", type=click.FloatRange(0, 1),
              help="With --probe: the share of problems the probe method sends to the vote "
                   "cascade [default: 0.1].")
@click.option("--no-progress", is_flag=True)
@model_options
def calibrate(dataset, n, seed, target, out, concurrency, vote_share, no_progress, **kw):
    """Choose the cascade's threshold on problems apart from the test set, for a TARGET
    (with --probe: the probe method's two bands).

    \b
    Example:
      math-router calibrate --dataset gsm8k-train --n 50 --target escalate:0.2
      math-router eval --method cascade --calibration <out>/calibration.json
      math-router calibrate --probe runs/probe/probe.json --n 200 --target escalate:0.1
      math-router eval --method probe --calibration <out>/calibration.json
    """
    from math_router import api

    with user_errors():
        result = api.calibrate(dataset, target, n=n, seed=seed, out=out, options=make_options(kw),
                               concurrency=concurrency, progress=not no_progress, notify=notify,
                               vote_share=vote_share)
    achieved = result["achieved"]
    if result.get("method") == "probe":
        click.echo(f"probe bands low {result['probe_low']:g}, high {result['probe_high']:g} for "
                   f"\"{result['target']}\": of {result['n']} {result['dataset']} problems "
                   f"{achieved['escalation_rate']:.0%} go to the orchestrator alone, "
                   f"{achieved['vote_rate']:.0%} to the vote, {achieved['specialist_rate']:.0%} "
                   "to one greedy solution")
        click.echo(f"wrote {result['results']}/calibration.json; use it with "
                   f"eval --method probe --calibration {result['results']}/calibration.json")
        return
    line = (f"threshold {result['threshold']:g} for \"{result['target']}\": escalates "
            f"{achieved['escalation_rate']:.0%} of {result['n']} {result['dataset']} problems")
    if "accuracy" in achieved:
        line += f", accuracy {achieved['accuracy']:.1%} (llm {result['llm_accuracy']:.1%})"
    click.echo(line + ("" if result["met"] else "; the target was NOT met: this is the closest"))
    click.echo(f"wrote {result['results']}/calibration.json; use it with "
               f"eval --calibration {result['results']}/calibration.json")


@cli.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-plots", is_flag=True, help="Only the tables.")
@click.option("--price", "prices", multiple=True, metavar="NAME=IN,OUT[,CACHED_IN]",
              help="Reprice the run from its recorded tokens at these USD per million tokens "
                   "(repeatable); nothing is re-run and the records are not changed.")
def report(results, no_plots, prices):
    """Compare the methods in a RESULTS folder: the trade-off against the llm, paired tests,
    per-problem agreement, plots; writes comparison.json, report.md and report.html there.

    With two folders (two runs of the same problems: two specialists, two thresholds), the
    runs side by side with a paired test between them, in RESULTS_A/compare-<B>.html.
    """
    from math_router.engine.pricing import parse_price
    from math_router.evals.plots import MISSING as MISSING_PLOTS
    from math_router.evals.plots import available as plots_available
    from math_router.evals.plots import write_plots
    from math_router.evals.report import (compare_runs, load_results, report_text,
                                          write_comparison, write_html, write_markdown)

    if len(results) > 2:
        raise click.ClickException("give one results folder, or two to compare")
    with user_errors():
        repriced = dict(parse_price(p) for p in prices) or None
        if len(results) == 2:
            text, page = compare_runs(results[0], results[1], repriced)
            click.echo(text)
            click.echo(f"wrote {page}")
            return
        [folder] = results
        records = load_results(folder, repriced)
        comparison = write_comparison(folder, records, repriced)
        click.echo(report_text(comparison, records))
        plots = []
        if not no_plots and plots_available():
            plots = write_plots(folder, comparison, records)
        elif not no_plots:
            click.echo(MISSING_PLOTS)
        for path in plots:
            click.echo(f"wrote {path}")
        click.echo(f"wrote {write_markdown(folder, comparison, records, plots)}")
        click.echo(f"wrote {write_html(folder, comparison, records, plots)}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but this machine's needs --server-api-key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--methods", "served", type=MethodList(), default="llm,router,slm,cascade",
              show_default=True, help="The methods served, each as a model name.")
@click.option("--server-api-key", envvar="MATH_ROUTER_API_KEY", show_envvar=False,
              help="The key clients must send (Authorization: Bearer KEY) [env: "
                   "MATH_ROUTER_API_KEY]; never printed. (--api-key stays the orchestrator's.)")
@click.option("--max-concurrency", type=click.IntRange(1),
              help=f"Requests answered at once; they share the batched decoder [default: "
                   f"{CPU_CONCURRENCY * 2}, or {GPU_CONCURRENCY} when the specialist GGUF runs on a GPU].")
@click.option("--read-timeout", "read_seconds", type=click.FloatRange(0.1),
              default=SERVER["read_seconds"].default, show_default=True,
              help="Seconds a client has to send a whole request (headers and body); a slower "
                   "connection is closed.")
@click.option("--max-connections-per-client", type=click.IntRange(1),
              default=SERVER["max_connections_per_client"].default, show_default=True,
              help="Open connections one client address may hold.")
@click.option("--max-connections", type=click.IntRange(1),
              default=SERVER["max_connections"].default, show_default=True,
              help="Open connections in all; past it, 503.")
@click.option("--max-queue", type=click.IntRange(0), default=SERVER["max_queue"].default,
              show_default=True,
              help="Requests that may wait for a turn; past that, 429 with Retry-After.")
@click.option("--max-question-chars", type=click.IntRange(1),
              default=SERVER["max_question_chars"].default, show_default=True,
              help="Longest question accepted (a longer one is a 400).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Append one JSON line per request (time, model, question hash, answer, cost, "
                   "seconds) to this file.")
@click.option("--log-questions", is_flag=True, help="--log: the question's text, not its hash.")
@click.option("--access-log", is_flag=True,
              help="One line per request on stderr: client, method, path, status, seconds.")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="A calibration.json from `calibrate`: its threshold for the cascade.")
@model_options
def serve(host, port, served, server_api_key, max_concurrency, read_seconds,
          max_connections_per_client, max_connections, max_queue, max_question_chars,
          log_path, log_questions, access_log, calibration, **kw):
    """Serve the methods as OpenAI-compatible chat models: point any OpenAI client at
    http://HOST:PORT/v1 and ask for model router, cascade, llm or slm.

    \b
    Example:
      math-router serve --port 8000
      # from another program:
      # OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-").chat.completions.create(
      #     model="cascade", messages=[{"role": "user", "content": "What is 27*14+15?"}])
    """
    from math_router import api
    from math_router.factory import default_concurrency
    from math_router.server import ServerSettings, check_host, serve as run_server

    if max_concurrency is None:
        max_concurrency = max(CPU_CONCURRENCY * 2, default_concurrency(make_options(kw), served))
    settings = ServerSettings(max_concurrency=max_concurrency, max_queue=max_queue,
                              read_seconds=read_seconds,
                              max_connections_per_client=max_connections_per_client,
                              max_connections=max_connections,
                              max_question_chars=max_question_chars, api_key=server_api_key,
                              log=log_path, log_questions=log_questions, access_log=access_log)
    with user_errors():
        check_host(host, server_api_key)  # before any model is built
        if kw["batch_api"]:
            raise UserError("--batch-api answers within 24 hours: not for a server")
        solver = api.Solver(served, options=make_options(kw), notify=notify,
                            calibration=calibration, concurrency=max_concurrency)
        solver.check()
        solver.load()
        run_server(solver, host, port, settings, notify)


@cli.command()
@click.option("--no-data", is_flag=True, help="Skip loading the Hub data sets.")
@click.option("--model", help=f"The API orchestrator to check [default: {DEFAULT_API_MODEL}].")
@click.option("--base-url", envvar="OPENAI_BASE_URL", help="Its OpenAI-compatible endpoint.")
@click.option("--api-key", envvar="OPENAI_API_KEY", show_envvar=False, help="Its key; never printed.")
def check(no_data, model, base_url, api_key):
    """Say what is installed and ready, one line per item, with the fix for each problem.

    With a key or --base-url, also whether the API orchestrator is served and when it retires.
    Exits non-zero when something the default `solve` needs is missing.
    """
    from math_router.checks import run_checks
    from math_router.evals.datasets import load_all

    missing = False
    loader = None if no_data else lambda name, note: len(load_all(name, notify=note))
    for item in run_checks(loader, model=model, base_url=base_url, api_key=api_key):
        line = f"{'✓' if item.ok else '✗'} {item.name}: {item.detail}"
        if not item.ok and item.fix:
            line += f" (fix: {item.fix})"
        click.echo(line)
        missing |= item.needed and not item.ok
    if missing:
        raise click.exceptions.Exit(1)


def format_cost(cost: float | None) -> str:
    return "cost unknown (no price; see --price)" if cost is None else f"${cost:.6f}"


def main(argv=None) -> int:
    """Entry point: every error, usage errors included, is one line on stderr."""
    try:
        code = cli.main(args=argv, prog_name=Path(sys.argv[0]).name or "math-router", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        return e.exit_code
    except ONE_LINE as e:
        click.echo(f"Error: {e}", err=True)
        return 1
    except OSError as e:  # a disk that is full, a folder that is read-only: what and where
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        click.echo(f"Error: cannot write or read {where}{e.strerror or e}", err=True)
        return 1
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Error: interrupted", err=True)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
