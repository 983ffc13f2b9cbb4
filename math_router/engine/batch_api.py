"""The OpenAI Batch API as one more way for a chat model to get its answer.

Worker threads ask as they always do (`BatchChat.complete`) and wait. `BatchRounds`
gathers their requests into rounds, sends each round as one batch (a JSONL file
through /v1/files, then /v1/batches with the 24 h completion window), polls it, and
hands each worker its reply; the methods do not know. A round goes out when every
live worker is waiting for a reply (the runner says when workers start and stop:
`join`, `leave`), so the llm method is one round, a cascade's escalations one round
after the votes, and each router turn a round.

What is sent is written down first. The ledger (OUT/batches.jsonl) records a round's
custom_ids before the upload and its batch id after; the batch carries the round's
key in its metadata, so a batch created just before a kill is found again by
listing. So a rerun never pays twice: a request whose custom_id (a hash of its
body) is in a batch still running waits for it; one a finished batch answered is
read from its saved output (OUT/batches/<batch id>.output.jsonl). A request the batch
failed, expired or cancelled is that problem's error; a rerun submits it anew.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from math_router.engine.appendlog import append, drop_torn_tail, lines
from math_router.engine.cache import cache_key
from math_router.engine.chat import OpenAIChat
from math_router.engine.errors import TransportError, UserError
from math_router.engine.trace import Turn

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # per batch: the API's limit
POLL_FAILURES = 5  # status checks that fail in a row before the waiting workers are told
FINAL = ("completed", "failed", "expired", "cancelled")
METADATA_KEY = "math_router_round"


class BatchLedger:
    """What was submitted, in the out folder: batches.jsonl (events, appended and fsynced) and
    batches/ (each finished batch's output and error files, as downloaded)."""

    def __init__(self, out: Path):
        self.path = Path(out) / "batches.jsonl"
        self.folder = Path(out) / "batches"
        self.rounds: dict[str, dict[str, Any]] = {}  # round key -> custom_ids, batch, status, ended
        self.latest: dict[str, str] = {}  # custom_id -> the last round that carried it
        self.answers: dict[str, tuple[Path, int]] = {}  # custom_id -> its saved 200 reply's line
        for number, _, line in lines(self.path):
            try:
                self._apply(json.loads(line))
            except (ValueError, KeyError, TypeError):
                raise UserError(f"{self.path}:{number} is damaged: move the folder aside") from None
        self._opened = False  # the torn tail of a kill is cut before the first write

    def _apply(self, event: dict) -> None:
        key = event["round"]
        if event["event"] == "submitting":
            self.rounds[key] = {"custom_ids": event["custom_ids"], "batch": None, "status": None,
                                "ended": False, "counts": None}
            for custom_id in event["custom_ids"]:
                self.latest[custom_id] = key
        elif event["event"] == "submitted":
            self.rounds[key]["batch"] = event["batch"]
        elif event["event"] == "status":
            self.rounds[key].update(status=event["status"], counts=event.get("counts"))
        elif event["event"] in ("ended", "abandoned"):
            self.rounds[key].update(ended=True, status=event.get("status", "abandoned"))
            if event["event"] == "ended":
                self.index(self.folder / f"{self.rounds[key]['batch']}.output.jsonl")

    def record(self, event: dict) -> None:
        if not self._opened:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            drop_torn_tail(self.path)
            self._opened = True
        with self.path.open("a", encoding="utf-8") as sink:
            append(sink, {**event, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        self._apply(event)

    def index(self, output: Path) -> None:
        for _, offset, line in lines(output):
            item = json.loads(line)
            if (item.get("response") or {}).get("status_code") == 200:
                self.answers[item["custom_id"]] = (output, offset)

    def answer(self, custom_id: str) -> dict | None:
        """The reply a finished batch gave this request, if it succeeded."""
        where = self.answers.get(custom_id)
        if where is None:
            return None
        with where[0].open("rb") as f:
            f.seek(where[1])
            return json.loads(f.readline())["response"]["body"]

    def running(self, custom_id: str) -> str | None:
        """The round still running that carries this request, if one does."""
        key = self.latest.get(custom_id)
        return key if key is not None and not self.rounds[key]["ended"] else None

    def live(self) -> list[str]:
        return [k for k, r in self.rounds.items() if not r["ended"]]

    def save(self, batch_id: str, kind: str, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{batch_id}.{kind}.jsonl"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        return path


class _Slot:
    """One worker's wait for one reply."""

    def __init__(self):
        self.done = threading.Event()
        self.value: dict | None = None
        self.error: TransportError | None = None


class BatchRounds:
    """Gathers the chat requests of waiting workers into batches, and answers them as the batches
    finish. `join`/`leave` count the live workers (the runner calls them)."""

    def __init__(self, chat: OpenAIChat, ledger: BatchLedger, *, poll_seconds: float = 30.0,
                 notify: Callable[[str], None] = lambda _: None, max_requests: int = MAX_REQUESTS):
        self.chat = chat
        self.ledger = ledger
        self.poll_seconds = poll_seconds
        self.max_requests = max_requests
        self.notify = notify
        self._cond = threading.Condition()
        self._live = 0  # workers taking problems
        self._waiting = 0  # of them, waiting for a reply
        self._pending: dict[str, dict] = {}  # custom_id -> body, not yet submitted
        self._slots: dict[str, list[_Slot]] = defaultdict(list)
        self._thread: threading.Thread | None = None
        self._last_poll = 0.0
        self._poll_failures = 0
        self._recovered = False

    # -- what workers call ------------------------------------------------------

    def join(self) -> None:
        with self._cond:
            self._live += 1

    def leave(self) -> None:
        with self._cond:
            self._live -= 1
            self._cond.notify_all()

    def ask(self, custom_id: str, body: dict) -> dict:
        """The reply to `body`, once the batch that carries it has finished."""
        with self._cond:
            if not self._recovered:
                self._recover()
                self._recovered = True
            answer = self.ledger.answer(custom_id)
            if answer is not None:
                return answer
            slot = _Slot()
            self._slots[custom_id].append(slot)
            self._waiting += 1
            if self.ledger.running(custom_id) is None:
                self._pending.setdefault(custom_id, body)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="batch-api", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        slot.done.wait()
        if slot.error is not None:  # each waiter its own exception, not one shared traceback
            raise TransportError(str(slot.error), systemic=slot.error.systemic)
        return slot.value

    def status(self) -> str:
        """The batches still running, for the progress line."""
        with self._cond:
            parts = []
            for key in self.ledger.live():
                r = self.ledger.rounds[key]
                counts = r["counts"] or {}
                done = f" {counts.get('completed', 0)}/{counts.get('total', len(r['custom_ids']))}" \
                    if counts else f" 0/{len(r['custom_ids'])}"
                parts.append(f"batch {r['status'] or 'submitting'}{done}")
            if self._pending:
                parts.append(f"{len(self._pending)} request(s) gathering")
            return ", ".join(parts)

    # -- the batch thread ---------------------------------------------------------

    def _ready(self) -> bool:
        """A round goes out when every live worker waits for a reply (or no worker is left to)."""
        return bool(self._pending) and self._waiting >= self._live

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._ready() and not self.ledger.live():
                    self._cond.wait()
                due = self._last_poll + self.poll_seconds - time.monotonic()
                if not self._ready() and due > 0:
                    self._cond.wait(due)  # a new request, a worker leaving, or time to poll
                round_ = None
                if self._ready():  # one model per batch, as the API wants
                    model = next(iter(self._pending.values()))["model"]
                    ids = [cid for cid, body in self._pending.items()
                           if body["model"] == model][:self.max_requests]
                    round_ = {cid: self._pending.pop(cid) for cid in ids}
            try:
                if round_:
                    self._submit(round_)
                if time.monotonic() - self._last_poll >= self.poll_seconds:
                    self._poll()
            except TransportError as e:
                self._poll_failures += 1
                if e.systemic or self._poll_failures >= POLL_FAILURES:
                    self._fail_all(e)
                else:
                    self.notify(f"the Batch API: {e}; checking again in {self.poll_seconds:g} s")
            except Exception as e:  # the batch thread must not die silently: every waiter hears it
                self._fail_all(TransportError(f"the Batch API: {type(e).__name__}: {e}",
                                              systemic=True))

    def _record(self, event: dict) -> None:
        with self._cond:  # the progress line reads the ledger from another thread
            self.ledger.record(event)

    def _submit(self, bodies: dict[str, dict]) -> None:
        key = uuid.uuid4().hex
        self._record({"event": "submitting", "round": key, "custom_ids": list(bodies)})
        data = "".join(json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT,
                                   "body": body}, ensure_ascii=False) + "\n"
                       for cid, body in bodies.items()).encode("utf-8")
        try:
            upload = self.chat.api("files.create", file=(f"math-router-{key}.jsonl", data),
                                   purpose="batch")
            batch = self.chat.api("batches.create", input_file_id=upload.id, endpoint=ENDPOINT,
                                  completion_window="24h", metadata={METADATA_KEY: key})
        except TransportError as e:
            self._record({"event": "abandoned", "round": key})
            raise TransportError(f"the Batch API refused a batch of {len(bodies)} request(s): {e}",
                                 systemic=True) from None
        self._record({"event": "submitted", "round": key, "batch": batch.id,
                      "input_file": upload.id})
        self.notify(f"batch {batch.id}: {len(bodies)} request(s) submitted")

    def _poll(self) -> None:
        self._last_poll = time.monotonic()
        with self._cond:
            live = [(key, dict(self.ledger.rounds[key])) for key in self.ledger.live()]
        for key, r in live:
            batch = self.chat.api("batches.retrieve", r["batch"])
            counts = batch.request_counts.model_dump() if batch.request_counts else None
            if (batch.status, counts) != (r["status"], r["counts"]):
                self._record({"event": "status", "round": key, "status": batch.status,
                              "counts": counts})
            if batch.status in FINAL:
                self._finish(key, batch)
        self._poll_failures = 0

    def _finish(self, key: str, batch) -> None:
        """Save a finished batch's files, then answer its waiters: each with its reply or error."""
        replies: dict[str, dict] = {}
        for kind, file_id in (("output", batch.output_file_id), ("errors", batch.error_file_id)):
            if not file_id:
                continue
            saved = self.ledger.save(batch.id, kind, self.chat.api("files.content", file_id).content)
            for _, _, line in lines(saved):
                item = json.loads(line)
                replies[item["custom_id"]] = item
        self._record({"event": "ended", "round": key, "status": batch.status})
        refused = "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) \
            if batch.errors else ""
        with self._cond:
            for custom_id in self.ledger.rounds[key]["custom_ids"]:
                item = replies.get(custom_id)
                response = (item or {}).get("response") or {}
                if response.get("status_code") == 200:
                    self._answer(custom_id, value=response["body"])
                elif batch.status == "failed" and refused:
                    self._answer(custom_id, error=TransportError(
                        f"the Batch API refused batch {batch.id}: {refused}", systemic=True))
                else:
                    self._answer(custom_id, error=TransportError(
                        f"{self.chat.base_url} batch {batch.id} ({batch.status}): "
                        f"{_why(item, batch.status)}"))

    def _answer(self, custom_id: str, value: dict | None = None,
                error: Exception | None = None) -> None:
        slots = self._slots.pop(custom_id, [])
        self._waiting -= len(slots)
        for slot in slots:
            slot.value, slot.error = value, error
            slot.done.set()
        self._cond.notify_all()

    def _fail_all(self, error: Exception) -> None:
        with self._cond:
            self._pending.clear()
            for custom_id in list(self._slots):
                self._answer(custom_id, error=error)

    def _recover(self) -> None:
        """Rounds whose batch id a kill kept from the ledger: found by their metadata, or given up
        (nothing was created, so nothing was paid; their requests go out again when asked).
        Ended rounds whose downloaded files are gone (batches/ deleted): downloaded again
        while the server keeps them, so their answers are not paid for twice."""
        self._download_missing()
        lost = [k for k, r in self.ledger.rounds.items() if r["batch"] is None and not r["ended"]]
        if not lost:
            return
        found = {}
        # The newest batches first; a round lost to a kill is among the last few hundred.
        for batch in itertools.islice(self.chat.api("batches.list", limit=100), 1000):
            round_key = (batch.metadata or {}).get(METADATA_KEY)
            if round_key in lost:
                found[round_key] = batch.id
        for key in lost:  # called under the lock
            if key in found:
                self.ledger.record({"event": "submitted", "round": key, "batch": found[key]})
                self.notify(f"batch {found[key]}: found again after an interruption")
            else:
                self.ledger.record({"event": "abandoned", "round": key})


    def _download_missing(self) -> None:
        import openai

        for key, r in self.ledger.rounds.items():  # called under the lock
            if not r["ended"] or r["batch"] is None or r["status"] not in FINAL \
                    or (self.ledger.folder / f"{r['batch']}.output.jsonl").exists():
                continue
            try:
                batch = self.chat.api("batches.retrieve", r["batch"])
                for kind, file_id in (("output", batch.output_file_id),
                                      ("errors", batch.error_file_id)):
                    if file_id:
                        saved = self.ledger.save(batch.id, kind,
                                                 self.chat.api("files.content", file_id).content)
                        if kind == "output":
                            self.ledger.index(saved)
                self.notify(f"batch {batch.id}: its answers downloaded again (batches/ had lost them)")
            except (TransportError, openai.OpenAIError) as e:
                self.notify(f"batch {r['batch']}: its answers are gone ({e}); asked again")


def _why(item: dict | None, status: str) -> str:
    """Why a request of a finished batch has no reply."""
    if item is None:
        return f"the batch ended {status} before this request was answered"
    if item.get("error"):
        error = item["error"]
        return f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip()
    response = item.get("response") or {}
    body = response.get("body") or {}
    message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return f"HTTP {response.get('status_code')}: {message or body}"


class BatchChat:
    """A chat model whose calls go through the Batch API (half the price, answered within 24 h).

    Behind the response cache, like any chat model: a cached call is never sent.
    """

    local = False

    def __init__(self, inner: OpenAIChat, rounds: BatchRounds):
        self.inner = inner
        self.rounds = rounds

    name = property(lambda self: self.inner.name)
    identity = property(lambda self: self.inner.identity)
    base_url = property(lambda self: self.inner.base_url)
    served_model = property(lambda self: self.inner.served_model)

    def card(self):
        return self.inner.card()

    def check(self, *args) -> None:
        """The one small request before a run goes directly: it must answer now."""
        self.inner.check(*args)

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        from openai.types.chat import ChatCompletion
        from pydantic import ValidationError

        body = self.inner.request(messages, tools, tool_choice)
        custom_id = cache_key(kind="batch", base_url=self.inner.base_url, body=body)
        start = time.perf_counter()
        reply = self.rounds.ask(custom_id, body)
        try:
            response = ChatCompletion.model_validate(reply)
        except ValidationError:
            raise TransportError(f"{self.inner.base_url} batch output is not a chat completion") from None
        if not response.choices:
            raise TransportError(f"{self.inner.base_url} answered with no choices")
        return self.inner.turn(response, time.perf_counter() - start, tools, batch=True)
