"""Know before decoding: the specialist's hidden state read from its prompt evaluation, a probe
fitted on `slm` runs' labels (train-probe), the probe method's three ways, its calibration.

The GGUF parts run on the real SmolLM2 test model. SmolLM2-135M answers almost no word
problem right, so the end-to-end tests relabel a real `slm` run by topic (as a stronger
specialist might be right on one kind of problem and wrong on another): the probe must
then find that in the hidden states it reads."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.calibrate import Target, probe_bands
from math_router.evals.methods import route_of
from math_router.llama import step_sampling
from math_router.testing import ChatServer, completion, user_question

pytestmark = pytest.mark.gguf

EASY = ["Tom has {a} apples and buys {b} more apples. How many apples does he have?",
        "A basket holds {a} apples; {b} apples are added. How many apples are in it?",
        "Sara picked {a} apples in the morning and {b} apples later. How many apples in all?",
        "An orchard sold {a} apples on Monday and {b} apples on Tuesday. How many apples?"]
HARD = ["A train leaves at {a} km/h and another at {b} km/h toward it from 300 km away. "
        "After how many hours do they meet?",
        "Two trains {a} km apart approach each other at {b} km/h each. When do they meet?",
        "A train travels {a} km in {b} hours, then twice as far at half the speed. "
        "What is its average speed?",
        "A freight train of length {a} m passes a {b} m platform at 20 m/s. How long does it take?"]


def problems_file(tmp_path: Path, per_kind: int = 16) -> Path:
    rows = []
    for i in range(per_kind):
        a, b = 3 + i, 5 + 2 * i
        rows.append({"question": EASY[i % 4].format(a=a, b=b), "answer": f"#### {a + b}"})
        rows.append({"question": HARD[i % 4].format(a=a * 10, b=b), "answer": f"#### {a * b}"})
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run(*args, env=None):
    return CliRunner().invoke(cli, [*args, "--no-progress"], env=env or {},
                              catch_exceptions=False)


def relabel_by_topic(run_dir: Path) -> None:
    """The apples problems right, the trains problems wrong, as records say it."""
    path = run_dir / "results_slm.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    samples = {row["id"]: row for row in _samples(run_dir)}
    for r in records:
        r["correct"] = "apples" in samples[r["id"]]["question"]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _samples(run_dir: Path):
    import csv

    with (run_dir / "samples.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory, smollm2):
    """A real `eval --method slm` with SmolLM2 on 32 problems, relabelled by topic."""
    tmp = tmp_path_factory.mktemp("probe")
    data = problems_file(tmp)
    out = tmp / "labels"
    result = run("eval", "--method", "slm", "--dataset", str(data), "--n", "all", "--out", str(out),
                 "--specialist", str(smollm2), "--specialist-max-tokens", "16")
    assert result.exit_code in (0, 1), result.output  # wrong answers are not errors
    relabel_by_topic(out)
    return tmp, data, out


@pytest.fixture(scope="module")
def trained(labelled_run, smollm2):
    tmp, data, labels = labelled_run
    out = tmp / "probe"
    result = run("train-probe", str(labels), "--out", str(out), "--specialist", str(smollm2))
    assert result.exit_code == 0, result.output
    return tmp, data, out / "probe.json", result.output


# -- the hidden state ---------------------------------------------------------------------


def test_hidden_state_is_llama_cpps_own_and_read_in_steps_of_outputs_only(smollm2):
    """The decoder's hidden state at the last prompt token is what llama.cpp's embeddings
    context gives for the same tokens. With embeddings on, llama.cpp makes every token of the
    step an output (logits and all), which would shift the logits rows other sequences are
    sampled from: so a step that reads a hidden state holds only tokens that are outputs
    anyway (decoding ones, and the prompts' last tokens), even beside a generating request.
    A solution asked after the reading evaluates one prompt token."""
    import threading
    import time

    import llama_cpp
    from llama_cpp import Llama

    from math_router.llama.batched import BatchedDecoder
    from math_router.llama.runtime import LlamaRuntime

    runtime = LlamaRuntime(str(smollm2), n_ctx=2048)
    first = runtime.prompt_tokens([{"role": "user", "content": "What is 27*14+15?"}])
    second = runtime.prompt_tokens([{"role": "user", "content": "Name three primes above 100."}])
    decoder = BatchedDecoder(runtime, n_seq_max=4)
    steps = []  # (embeddings on, every token an output, tokens in the batch)
    real_decode = llama_cpp.llama_decode

    def watched(ctx, batch):
        flags = [bool(batch.logits[i]) for i in range(batch.n_tokens)]
        steps.append((decoder._embeddings_on, all(flags), batch.n_tokens))
        return real_decode(ctx, batch)

    results = {}
    decoder._setup()
    decoder._llama_cpp = type("Watched", (), {"__getattr__": lambda self, name: getattr(
        llama_cpp, name), "llama_decode": staticmethod(watched)})()
    long = threading.Thread(target=lambda: results.setdefault("first", decoder.generate(
        first, max_tokens=120, ignore_eos=True)))
    long.start()
    while decoder.max_active < 1:  # the first request is decoding
        time.sleep(0.01)
    results["second"] = decoder.generate(second, max_tokens=0, hidden_state=True)
    long.join()
    read_steps = [s for s in steps if s[0]]
    assert read_steps and all(every for _, every, _ in read_steps)
    assert any(n > 1 for _, _, n in read_steps)  # the reading shared a step with decoding
    assert results["first"].generations[0].completion_tokens == 120

    llama = Llama(str(smollm2), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_NONE,
                  n_ctx=2048, verbose=False)
    llama.eval(second)
    pointer = llama_cpp.llama_get_embeddings_ith(llama._ctx.ctx, -1)
    n_embd = llama_cpp.llama_model_n_embd(llama._model.model)
    expected = np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)),
                                     shape=(n_embd,))
    got = results["second"].hidden_state
    assert got.shape == (n_embd,) and results["first"].hidden_state is None
    cosine = float(got @ expected / np.linalg.norm(got) / np.linalg.norm(expected))
    assert cosine > 0.999, cosine

    alone = BatchedDecoder(runtime, n_seq_max=4).generate(second, max_tokens=24)
    after = decoder.generate(second, max_tokens=24)
    assert after.prompt_reused == len(second) - 1
    assert after.generations[0].text == alone.generations[0].text
    with pytest.raises(ValueError, match="max_tokens"):
        decoder.generate(first, max_tokens=0)


def test_logprobs_of_greedy_tokens_are_the_softmax_of_their_logits(smollm2):
    from math_router.llama.batched import BatchedDecoder
    from math_router.llama.runtime import LlamaRuntime

    runtime = LlamaRuntime(str(smollm2), n_ctx=2048)
    prompt = runtime.prompt_tokens([{"role": "user", "content": "Count from one to five."}])
    out = BatchedDecoder(runtime, n_seq_max=2).generate(prompt, max_tokens=12, logprobs=True)
    g = out.generations[0]
    assert len(g.logprobs) == len(g.tokens) == g.completion_tokens > 0
    assert all(-30 < lp <= 0 for lp in g.logprobs)
    assert runtime.llama.detokenize(list(g.tokens)).decode() == g.text

    rows = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    got = step_sampling.logprobs(rows, np.array([2, 1]))
    want = [3 - np.log(np.exp(1) + np.exp(2) + np.exp(3)), -np.log(3)]
    assert np.allclose(got, want, atol=1e-6)


# -- train-probe ----------------------------------------------------------------------------


def test_train_probe_learns_what_the_labels_say_from_the_hidden_state(trained, smollm2):
    _, _, path, output = trained
    data = json.loads(path.read_text())
    assert "held-out AUROC" in output
    assert data["heldout"]["problems"] == 8 and data["training"]["fitted_on"] == 24
    # Apples against trains is plain in the hidden state: the held-out problems are ranked
    # nearly perfectly, with the interval said.
    assert data["heldout"]["auroc"] >= 0.9, data["heldout"]
    low, high = data["heldout"]["interval"]
    assert low <= data["heldout"]["auroc"] <= high
    assert data["specialist"]["gguf"]["file"] == Path(smollm2).name
    assert len(data["specialist"]["gguf"]["sha256"]) == 64
    assert len(data["training"]["data_sha256"]) == 64 and len(data["training"]["problem_ids"]) == 32
    assert data["fit"]["library"].startswith("scikit-learn")


def test_train_probe_refuses_labels_of_another_specialist(labelled_run, tmp_path):
    _, _, labels = labelled_run
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF, but not the one that made the labels")
    result = run("train-probe", str(labels), "--out", str(tmp_path / "p"), "--specialist",
                 str(other))
    assert result.exit_code != 0
    assert "another specialist" in result.output and "Traceback" not in result.output


def test_train_probe_on_a_folder_without_slm_results_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("train-probe", str(tmp_path / "empty"), "--out", str(tmp_path / "p"))
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
    assert "no `eval --method slm` results" in result.output


# -- the probe method -----------------------------------------------------------------------


def orchestrator(gold):
    def respond(request):
        text = request["messages"][-1]["content"]
        question = text.split("Problem:\n", 1)[1].split("\n\n", 1)[0] if "Problem:\n" in text \
            else user_question(request)
        return completion(f"\\boxed{{{gold[question]}}}", prompt_tokens=90, completion_tokens=10)
    return respond


def gold_of(data: Path) -> dict:
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    return {r["question"]: r["answer"].split("####")[1].strip() for r in rows}


def test_probe_method_takes_each_way_by_its_bands(trained, smollm2, tmp_path):
    _, data, probe, _ = trained
    with ChatServer(orchestrator(gold_of(data))) as orch:
        result = run("eval", "--method", "probe", "--probe", str(probe), "--dataset", str(data),
                     "--n", "all", "--out", str(tmp_path / "run"), "--specialist", str(smollm2),
                     "--specialist-max-tokens", "16", "--base-url", orch.url,
                     "--price", "gpt-4o-mini=0.15,0.60", "--model", "gpt-4o-mini",
                     "--probe-low", "0.3", "--probe-high", "0.7",
                     env={"OPENAI_API_KEY": "sk-test"})
        asked = len(orch.requests)
    assert result.exit_code in (0, 1), result.output
    records = [json.loads(line) for line in (tmp_path / "run" / "results_probe.jsonl").open()]
    assert len(records) == 32 and all(r["error"] is None for r in records)
    for r in records:
        assert r["route"] == route_of(r["probe_probability"], 0.3, 0.7)
        trace = r["trace"]
        if r["route"] == "specialist":  # one greedy solution: nothing asked
            assert r["usage"]["orchestrator"]["calls"] == 0 and not r["escalated"]
        elif r["route"] == "orchestrator":  # nothing decoded: one llm turn
            assert r["usage"]["specialist"]["output_tokens"] == 0 and r["escalated"]
            assert r["correct"]  # the test orchestrator knows the answers
        else:
            assert trace["vote"] is not None
        # The reading is the specialist's prompt evaluation, counted as its input.
        assert r["usage"]["specialist"]["input_tokens"] > 0
    ways = {r["route"] for r in records}
    # The apples problems score high and the trains problems low, so both ends are taken.
    assert {"specialist", "orchestrator"} <= ways
    apples = [r for r in records if r["route"] == "specialist"]
    assert asked == sum(r["usage"]["orchestrator"]["calls"] for r in records)
    assert apples
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    settings = run_json["methods"]["probe"]["settings"]
    assert settings["probe_low"] == 0.3 and settings["probe_high"] == 0.7
    assert len(settings["probe"]["weights"]) == 16


def test_probe_fitted_on_another_specialist_is_refused(trained, tmp_path, smollm2):
    _, data, probe, _ = trained
    other = json.loads(probe.read_text())
    other["specialist"]["gguf"]["sha256"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    with ChatServer(orchestrator(gold_of(data))) as orch:
        result = run("eval", "--method", "probe", "--probe", str(tmp_path / "other.json"),
                     "--dataset", str(data), "--n", "2", "--out", str(tmp_path / "run"),
                     "--specialist", str(smollm2), "--base-url", orch.url, "--model",
                     "gpt-4o-mini", env={"OPENAI_API_KEY": "sk-test"})
        assert not orch.requests  # refused before any problem
    assert result.exit_code != 0 and "the probe was fitted on" in result.output
    assert "Traceback" not in result.output


def test_probe_method_without_a_probe_is_one_line(tmp_path, smollm2):
    with ChatServer([]) as orch:
        result = run("solve", "What is 2+2?", "--method", "probe", "--specialist", str(smollm2),
                     "--base-url", orch.url, "--model", "gpt-4o-mini",
                     env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code != 0 and "--probe PATH" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")


def test_a_damaged_probe_json_is_one_line(tmp_path, smollm2):
    (tmp_path / "probe.json").write_text('{"format": 1, "features": "hidden_state_last_prompt_token"}')
    with ChatServer([]) as orch:
        result = run("solve", "What is 2+2?", "--method", "probe", "--probe",
                     str(tmp_path / "probe.json"), "--specialist", str(smollm2),
                     "--base-url", orch.url, "--model", "gpt-4o-mini",
                     env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code != 0 and "is not a probe.json" in result.output


# -- calibration ----------------------------------------------------------------------------


def test_bands_are_quantiles_of_the_scores():
    scores = [i / 100 for i in range(100)]
    bands = probe_bands(scores, Target("escalate", 0.2), 0.1)
    assert bands["achieved"]["escalation_rate"] == pytest.approx(0.2)
    assert bands["achieved"]["vote_rate"] == pytest.approx(0.1)
    assert bands["achieved"]["specialist_rate"] == pytest.approx(0.7)
    assert route_of(0.19, bands["probe_low"], bands["probe_high"]) == "orchestrator"
    assert route_of(0.2, bands["probe_low"], bands["probe_high"]) == "cascade"
    assert route_of(0.3, bands["probe_low"], bands["probe_high"]) == "specialist"
    nothing = probe_bands(scores, Target("escalate", 0.0), 0.0)
    assert nothing["probe_low"] == nothing["probe_high"] == 0.0
    with pytest.raises(Exception, match="escalate:SHARE"):
        probe_bands(scores, Target("accuracy"), 0.1)
    with pytest.raises(Exception, match="--vote-share"):
        probe_bands(scores, Target("escalate", 0.95), 0.1)


def test_calibrate_a_probe_then_eval_with_its_bands(trained, smollm2, tmp_path):
    tmp, data, probe, _ = trained
    # Calibration problems apart from the probe's training problems: the same kinds, new numbers.
    other = tmp_path / "calibration.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    other.write_text("".join(json.dumps({**r, "question": r["question"].replace("?", " today?")})
                             + "\n" for r in rows))
    result = run("calibrate", "--probe", str(probe), "--dataset", str(other), "--n", "all",
                 "--target", "escalate:0.25", "--vote-share", "0.25", "--out",
                 str(tmp_path / "cal"), "--specialist", str(smollm2))
    assert result.exit_code == 0, result.output
    cal = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert cal["method"] == "probe" and cal["achieved"]["escalation_rate"] == pytest.approx(0.25)
    assert cal["probe_low"] <= cal["probe_high"] and len(cal["scores"]) == 32
    assert "go to the orchestrator alone" in result.output

    with ChatServer(orchestrator(gold_of(data))) as orch:
        result = run("eval", "--method", "probe", "--calibration", str(tmp_path / "cal" / "calibration.json"),
                     "--dataset", str(data), "--n", "8", "--out", str(tmp_path / "run"),
                     "--specialist", str(smollm2), "--specialist-max-tokens", "16",
                     "--base-url", orch.url, "--model", "gpt-4o-mini",
                     env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code in (0, 1), result.output
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["methods"]["probe"]["settings"]
    assert settings["probe_low"] == cal["probe_low"] and settings["probe_high"] == cal["probe_high"]


def test_calibrating_on_the_probes_own_training_problems_leaves_them_out(trained, smollm2, tmp_path):
    _, data, probe, _ = trained
    result = run("calibrate", "--probe", str(probe), "--dataset", str(data), "--n", "all",
                 "--target", "escalate:0.2", "--out", str(tmp_path / "cal"), "--specialist", str(smollm2))
    assert result.exit_code != 0
    assert "no calibration problem" in result.output or "left out 32" in result.output


# -- the report's curve -----------------------------------------------------------------------


def _record(i, method, correct, *, p=None, cost=0.0, out=0, escalated=None, route=None):
    r = {"id": f"q{i}", "method": method, "correct": correct, "error": None, "cost_usd": cost,
         "usage": {"specialist": {"input_tokens": 50, "output_tokens": out}}}
    if p is not None:
        r.update(probe_probability=p, route=route or "specialist", escalated=False)
    if escalated is not None:
        r["escalated"] = escalated
    return r


def test_the_probe_curve_replays_the_routing_at_each_share_beside_the_cascade():
    from math_router.evals.probe_curve import probe_curve

    # P rises with i; the specialist is wrong on the two lowest, the llm right on everything.
    n = 10
    results = {
        "probe": [_record(i, "probe", None, p=i / n) for i in range(n)],
        "slm": [_record(i, "slm", i >= 2, out=100) for i in range(n)],
        "llm": [_record(i, "llm", True, cost=0.01) for i in range(n)],
        "cascade": [_record(i, "cascade", i != 0, cost=0.01 if i < 2 else 0.0, out=300,
                            escalated=i < 2) for i in range(n)],
    }
    curve = probe_curve(results)
    points = {p["escalation_share"]: p for p in curve["points"]}
    assert points[0.0]["accuracy"] == 0.8 and points[0.0]["total_cost_usd"] == 0.0
    assert points[0.2]["accuracy"] == 1.0 and points[0.2]["escalated"] == 2
    assert points[0.2]["total_cost_usd"] == pytest.approx(0.02)
    assert points[0.2]["specialist_output_tokens"] == 800
    cascade = curve["cascade"]
    assert cascade["escalation_rate"] == 0.2 and cascade["accuracy"] == 0.9
    assert cascade["specialist_output_tokens"] == 3000
    assert cascade["probe_at_same_rate"]["accuracy"] == 1.0
    assert cascade["probe_minus_cascade"]["estimate"] == pytest.approx(0.1)
    assert "right_ids" not in cascade["probe_at_same_rate"]
    assert probe_curve({"slm": results["slm"], "llm": results["llm"]}) is None


# -- the confidence features (after a greedy solution) --------------------------------------


def test_the_answer_span_is_the_last_boxed_content():
    from math_router.probe.features import answer_span, confidence

    pieces = ["So ", "\\box", "ed{", "1", "2}", " and ", "\\boxed{", "4", "{", "2", "}}", "."]
    span = answer_span(pieces)
    assert [pieces[i] for i in span] == ["4", "{", "2", "}}"]
    logprobs = [-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -1.0, -2.0, -3.0, -4.0, -0.05]
    features = confidence(pieces, logprobs)
    assert features["answer_min_logprob"] == -4.0
    assert features["answer_mean_logprob"] == pytest.approx(-2.5)
    assert features["min_logprob"] == -4.0 and features["mean_logprob"] == pytest.approx(sum(logprobs) / 12)
    assert answer_span(["no answer here"]) is None
    assert confidence([], []) is None


def logprob_specialist(gold, with_logprobs=True, right=lambda q: "apples" in q):
    """An OpenAI-compatible specialist: sure (and right) on apples, unsure (and wrong) on
    trains, its tokens' logprobs in OpenAI's shape (or none, as some servers send)."""
    def respond(request):
        question = user_question(request)
        sure = right(question)
        answer = gold[question] if sure else str(int(gold[question]) + 1)
        pieces = ["The ", "answer ", "is ", "\\boxed{", answer, "}"]
        value = -0.01 if sure else -2.5
        body = completion(f"The answer is \\boxed{{{answer}}}", completion_tokens=len(pieces)).body
        body["choices"][0]["logprobs"] = {"content": [
            {"token": p, "logprob": value, "bytes": None, "top_logprobs": []} for p in pieces]} \
            if with_logprobs and request.get("logprobs") else None
        from math_router.testing import Reply
        return Reply(body=body)
    return respond


def test_a_logprobs_probe_from_a_servers_logprobs_routes_after_the_greedy_solution(tmp_path):
    data = problems_file(tmp_path)
    gold = gold_of(data)
    with ChatServer(logprob_specialist(gold)) as spec, ChatServer(orchestrator(gold)) as orch:
        servers = ["--specialist", spec.url, "--specialist-model", "qwen-math",
                   "--base-url", orch.url, "--model", "gpt-4o-mini"]
        env = {"OPENAI_API_KEY": "sk-test"}
        result = run("eval", "--method", "slm", "--specialist-logprobs", "--dataset", str(data),
                     "--n", "all", "--out", str(tmp_path / "labels"), *servers, env=env)
        assert result.exit_code == 0, result.output
        sent = spec.requests[-1]
        assert sent["logprobs"] is True and sent["temperature"] == 0
        settings = json.loads((tmp_path / "labels" / "run.json").read_text())["methods"]["slm"]["settings"]
        assert settings["specialist_logprobs"] is True
        result = run("train-probe", str(tmp_path / "labels"), "--features", "logprobs",
                     "--out", str(tmp_path / "probe"), *servers, env=env)
        assert result.exit_code == 0, result.output
        probe = json.loads((tmp_path / "probe" / "probe.json").read_text())
        assert probe["features"] == "greedy_logprobs" and probe["heldout"]["auroc"] == 1.0
        assert probe["specialist"] == {"model": "qwen-math", "base_url": spec.url}
        before = len(orch.requests)
        result = run("eval", "--method", "probe", "--probe", str(tmp_path / "probe" / "probe.json"),
                     "--dataset", str(data), "--n", "all", "--out", str(tmp_path / "run"),
                     "--probe-low", "0.5", "--probe-high", "0.5", *servers, env=env)
        assert result.exit_code == 0, result.output
        asked = len(orch.requests) - before
    records = [json.loads(line) for line in (tmp_path / "run" / "results_probe.jsonl").open()]
    assert all(r["correct"] for r in records)  # sure ones kept, unsure ones to the orchestrator
    routes = {r["route"] for r in records}
    assert routes == {"specialist", "orchestrator"}
    for r in records:
        assert r["trace"]["route"]["features"] == "greedy_logprobs"
        assert r["usage"]["specialist"]["calls"] == 1  # the greedy solution, always written
        assert r["usage"]["orchestrator"]["calls"] == (r["route"] == "orchestrator")
    assert asked == sum(r["route"] == "orchestrator" for r in records)


def test_a_server_without_logprobs_is_said(tmp_path):
    data = problems_file(tmp_path, per_kind=4)
    gold = gold_of(data)
    with ChatServer(logprob_specialist(gold, with_logprobs=False)) as spec:
        servers = ["--specialist", spec.url, "--specialist-model", "qwen-math"]
        result = run("eval", "--method", "slm", "--specialist-logprobs", "--dataset", str(data),
                     "--n", "all", "--out", str(tmp_path / "labels"), *servers,
                     env={"OPENAI_API_KEY": "sk-test"})
        assert result.exit_code == 0, result.output
        result = run("train-probe", str(tmp_path / "labels"), "--features", "logprobs",
                     "--out", str(tmp_path / "probe"), *servers, env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code != 0 and "hold no log-probabilities" in result.output
    assert result.output.strip().splitlines()[-1].startswith("Error: ")
