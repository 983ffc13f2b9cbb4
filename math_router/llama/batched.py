"""Several sequences decoded together in one llama.cpp batch.

llama.cpp's decode step costs nearly the same for one sequence as for a few
(the weights are read once per step), so sequences that wait their turn behind
a lock waste most of the machine. This decoder owns a second context on the
runtime's model (the weights are shared, the KV cache is its own) with
`n_seq_max` sequences and a unified KV cache, and one scheduler thread that:

- takes requests from any thread (concurrent eval workers, say) and decodes
  all active sequences in each `llama_decode` call;
- for a request of k samples, evaluates the prompt once on one sequence and
  copies its KV cells to the other k-1 (`llama_memory_seq_cp`), then samples
  each with its own seed's random stream (the next tokens of all sequences are chosen
  together in numpy from the logits in place: `step_sampling`);
- keeps the KV cells of finished sequences (up to `n_retain`, least recently
  used first out) and starts a new request from the longest prefix it shares
  with one of them: the system prompt and tool schema every orchestrator turn
  begins with are evaluated once, and a conversation's next turn continues
  from the cells of its last one instead of reading the conversation again;
- with a grammar (a forced tool call: the tool's argument schema), constrains
  what a sequence may write;
- with an `Interlude` (tool-integrated reasoning), pauses a sequence whose text
  asks for it (a Python block just closed), runs the interlude's slow part on
  another thread while the other sequences keep decoding, then evaluates the
  text it returns (the program's output) into that sequence and goes on.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Protocol

import attrs
import numpy as np

from math_router.engine.errors import InputTooLong
from math_router.engine.sampling import GREEDY, SamplingParams
from math_router.llama import step_sampling
from math_router.llama.runtime import LlamaRuntime, import_llama_cpp


class Interlude(Protocol):
    """Text a sequence's generation waits for: `pause` is asked on the decoder thread (cheap),
    `resume` runs on a worker thread (slow) and returns the text to append before going on."""

    def pause(self, text: str) -> bool: ...

    def resume(self, text: str, sample: int) -> str: ...


@attrs.frozen
class Generation:
    text: str
    completion_tokens: int  # what the model generated; injected text is not counted
    finish_reason: str  # "stop" | "length" | "cancelled" (the caller's outcome was settled)
    injected_tokens: int = 0  # text an interlude appended (read by the model like a prompt)
    # With `logprobs`: each generated token and its log-probability under the model (before
    # temperature), for confidence features (probe.features).
    tokens: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()


@attrs.frozen
class BatchResult:
    generations: list[Generation]
    prompt_tokens: int
    queue_seconds: float  # waiting for free sequence slots
    generate_seconds: float  # from the first decode of this request to its last token
    prompt_reused: int = 0  # prompt tokens whose KV cells came from an earlier sequence
    # With `hidden_state`: the model's last hidden state (after the final norm, as llama.cpp's
    # embeddings output gives it) at the prompt's last token, read from the same evaluation.
    hidden_state: np.ndarray | None = None


@attrs.define(eq=False)
class _Sequence:
    seq_id: int
    sampler: Any  # llama.cpp's sampler chain, for a grammar; None: chosen in numpy (step_sampling)
    position: int
    max_tokens: int
    index: int = 0  # which of its request's samples
    tokens: list[int] = attrs.field(factory=list)
    finish_reason: str | None = None
    batch_index: int = -1  # where this sequence's logits are in the current batch
    paused: bool = False  # waiting for its interlude
    pending_text: str | None = None  # the interlude's text, not yet tokenized
    inject: list[int] = attrs.field(factory=list)  # tokens to evaluate before sampling again
    injected: int = 0
    random: Any = None  # numpy Generator of a sampled sequence: its seed's own stream
    logprobs: list[float] | None = None  # each generated token's, when the request asked
    generated: list[int] = attrs.field(factory=list)  # the tokens those log-probabilities are of
    last_logprob: float = 0.0  # the chosen token's, until _accept keeps or drops it


@attrs.define(eq=False)
class _Request:
    prompt: list[int]
    n: int
    sampling: SamplingParams
    max_tokens: int
    future: Future
    submitted: float
    started: float | None = None
    prefilled: int = 0
    sequences: list[_Sequence] = attrs.field(factory=list)
    settled: Callable[[list[str | None]], bool] | None = None
    finished_seen: int = 0
    interlude: Interlude | None = None
    grammar: Any = None  # a llama_cpp.LlamaGrammar every sequence of the request must follow
    ignore_eos: bool = False  # benchmarks: generate max_tokens, as llama.cpp's own benchmarks do
    reused: int = 0
    want_hidden: bool = False
    hidden: np.ndarray | None = None
    want_logprobs: bool = False


class BatchedDecoder:
    """Decode requests from many threads together; `generate` blocks until its request is done."""

    # A shared prefix shorter than this is not worth a copy.
    MIN_REUSE = 8

    # KV cache memory one decoder may take by default (all sequences together): the cells are
    # cut to fit, and a request that finds no room waits for it.
    KV_BUDGET_BYTES = 4 << 30

    def __init__(self, runtime: LlamaRuntime, *, n_seq_max: int = 8, ctx_per_seq: int = 2048,
                 n_batch: int = 512, n_retain: int = 8, kv_budget_bytes: int = KV_BUDGET_BYTES,
                 flash_attn: bool | None = None, llama_sampling: bool = False):
        """`flash_attn` None: as llama.cpp's own tools choose (auto: where the backend has it);
        False: as llama-cpp-python's default context (the plain path's numerics, token for
        token). `llama_sampling`: every sequence through llama.cpp's sampler chain, one at a
        time, as before step_sampling (for comparisons)."""
        self.runtime = runtime
        self.n_seq_max = n_seq_max
        self.n_retain = n_retain  # finished sequences whose cells are kept for reuse
        self._retained: OrderedDict[int, list[int]] = OrderedDict()  # seq id -> evaluated tokens
        self.prompt_tokens_evaluated = 0  # over the decoder's life, for benchmarks
        self.prompt_tokens_reused = 0
        self.ctx_per_seq = ctx_per_seq
        self.kv_budget_bytes = kv_budget_bytes
        self.flash_attn = flash_attn
        self.llama_sampling = llama_sampling
        self.n_batch = n_batch
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._thread: threading.Thread | None = None
        self._ctx = None
        self._batch = None
        self._interludes = ThreadPoolExecutor(max_workers=n_seq_max,
                                              thread_name_prefix="interlude")
        self.max_active = 0  # most sequences ever decoded in one step
        # Steps that only decode (no prompt, no injected text): tokens and seconds, for benchmarks.
        self.decode_tokens = 0
        self.decode_seconds = 0.0
        self._eog: np.ndarray | None = None
        self._eog_set: set[int] = set()
        self._outputs: list[int] = []  # batch positions with logits, in order: llama.cpp's rows

    @property
    def name(self) -> str:
        return self.runtime.name

    def generate(self, prompt: list[int], *, n: int = 1, sampling: SamplingParams = GREEDY,
                 max_tokens: int = 1024,
                 settled: Callable[[list[str | None]], bool] | None = None,
                 interlude: Interlude | None = None, grammar: Any = None,
                 ignore_eos: bool = False, hidden_state: bool = False,
                 logprobs: bool = False) -> BatchResult:
        """`n` completions of the token list `prompt`, decoded alongside other callers' requests.

        `settled`, called with the finished texts (None for the rest) each time one
        finishes, may end the others early ("cancelled") once the caller's outcome
        cannot change, so a long straggler does not hold the answer up.
        `hidden_state`: also the model's hidden state at the prompt's last token
        (`max_tokens=0` evaluates the prompt and generates nothing: its cells are kept,
        so a later request with the same prompt evaluates one token). `logprobs`: each
        generated token's log-probability.
        """
        if not 1 <= n <= self.n_seq_max:
            raise ValueError(f"n must be between 1 and {self.n_seq_max}")
        if max_tokens < 0 or (max_tokens == 0 and not hidden_state):
            raise ValueError("max_tokens must be positive (0 only to read the hidden state)")
        request = _Request(list(prompt), n, sampling, max_tokens, Future(), time.perf_counter(),
                           settled=settled, interlude=interlude, grammar=grammar,
                           ignore_eos=ignore_eos, want_hidden=hidden_state,
                           want_logprobs=logprobs)
        with self._cond:
            self._start()
            self._queue.append(request)
            self._cond.notify()
        return request.future.result()

    # -- the scheduler thread -------------------------------------------------

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="batched-decoder", daemon=True)
            self._thread.start()

    def _setup(self) -> None:
        llama_cpp = import_llama_cpp()
        from llama_cpp import _internals

        llama = self.runtime.llama  # loads the weights once, shared with the runtime
        # The runtime's own settings (attention kernel, KV types, threads), resized for n sequences.
        params = type(llama.context_params).from_buffer_copy(llama.context_params)
        # One unified pool of KV cells for all sequences, within the memory budget. No
        # sequence's positions pass what the model was trained for (n_ctx_train: _admit).
        self.n_ctx_train = llama._model.n_ctx_train()
        cells = self.ctx_per_seq * self.n_seq_max
        params.n_ctx = max(min(cells, self.kv_budget_bytes // self._kv_bytes_per_cell(llama)),
                           min(self.ctx_per_seq, self.n_ctx_train))
        self.n_ctx = params.n_ctx
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_batch
        params.n_seq_max = self.n_seq_max + self.n_retain
        params.kv_unified = True  # any sequence may use any cell; copies share cells
        # Per-token hidden states when a step asks for them (llama_set_embeddings, per step);
        # a generative model pools nothing.
        params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE
        self._embeddings_on = False
        # The attention kernel llama.cpp's own tools pick (auto: flash attention where the
        # backend has it). llama-cpp-python's default turns it off, which on a 2-core CPU cost
        # 8-40% of the decode rate at 8-64 sequences (docs/benchmarks.md).
        params.flash_attn_type = {None: llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO,
                                  True: llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
                                  False: llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}[self.flash_attn]
        self._model = llama._model
        self._vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self._ctx = _quietly(lambda: _internals.LlamaContext(model=llama._model, params=params,
                                                             verbose=False))
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, self.n_seq_max + self.n_retain)
        self._llama_cpp = llama_cpp
        self._eog_tokens()  # the end-of-generation set _accept reads

    @staticmethod
    def _kv_bytes_per_cell(llama) -> int:
        """Bytes of K and V one token takes in every layer (F16 cache, llama.cpp's default)."""
        import llama_cpp

        model = llama._model.model
        n_head = max(1, llama_cpp.llama_model_n_head(model))
        kv_heads = llama_cpp.llama_model_n_head_kv(model) or n_head
        head_dim = llama_cpp.llama_model_n_embd(model) // n_head
        return max(1, llama_cpp.llama_model_n_layer(model) * 2 * kv_heads * head_dim * 2)

    def _serve(self) -> None:
        """The scheduler: wait for work, admit what fits, decode one step, hand back what ended."""
        active: list[_Request] = []
        free_ids = list(range(self.n_seq_max + self.n_retain))
        while True:
            with self._cond:
                self._wait(active)
                if self._ctx is None and not self._setup_or_fail():
                    continue
                self._reject_too_long()
                self._admit(active, free_ids)
            try:
                self._step(active)
            except Exception as e:  # fail what is in flight, keep serving later requests
                for request in active:
                    if not request.future.done():
                        request.future.set_exception(e)
                    free_ids.extend(self._release(request, keep=False))
                active = []
                continue
            self._finish(active, free_ids)

    def _wait(self, active: list[_Request]) -> None:
        """Until a request waits, or a sequence in flight has something to evaluate."""
        while not self._queue and not active:
            self._cond.wait()
        while active and not self._queue and not self._runnable(active):
            self._cond.wait(0.05)  # every sequence waits for its interlude

    def _setup_or_fail(self) -> bool:
        """Make the context on first use; if that fails, every waiting request gets the error."""
        try:
            self._setup()
            return True
        except Exception as e:
            for request in self._queue:
                request.future.set_exception(e)
            self._queue.clear()
            return False

    def _reject_too_long(self) -> None:
        while self._queue and self._too_long(self._queue[0]):
            request = self._queue.pop(0)
            request.future.set_exception(InputTooLong(
                f"the prompt is {len(request.prompt):,} tokens; the model's context "
                f"holds {self.n_ctx:,} ({self.runtime.name})"))

    def _admit(self, active: list[_Request], free_ids: list[int]) -> None:
        """Admit waiting requests, in order, while their sequences and KV cells fit: each
        reserves its prompt (shared by its samples) and n * max_tokens."""
        reserved = sum(self._cells(r) for r in active)
        while self._queue:
            request = self._queue[0]
            request.max_tokens = min(request.max_tokens,
                                     max(1, (self.n_ctx - len(request.prompt)) // request.n),
                                     max(1, self.n_ctx_train - len(request.prompt)))
            if sum(r.n for r in active) + request.n > self.n_seq_max:
                break
            # Kept cells give way, oldest first, to requests that need room.
            while self._retained and (
                    len(free_ids) < request.n
                    or reserved + self._retained_cells() + self._cells(request) > self.n_ctx):
                free_ids.append(self._evict_oldest())
            if len(free_ids) < request.n or (
                    active and reserved + self._cells(request) > self.n_ctx):
                break
            self._queue.pop(0)
            reserved += self._cells(request)
            request.sequences = [self._new_sequence(free_ids.pop(0), request, i)
                                 for i in range(request.n)]
            self._reuse_prefix(request)
            active.append(request)

    def _finish(self, active: list[_Request], free_ids: list[int]) -> None:
        """Cancel what a settled vote no longer needs; hand back each request whose sequences
        have all ended, keeping its cells for a later prompt with the same start."""
        for request in active:
            self._check_settled(request)
        for request in [r for r in active if all(s.finish_reason for s in r.sequences)]:
            active.remove(request)
            free_ids.extend(self._release(request))
            request.future.set_result(self._result(request))

    @staticmethod
    def _runnable(active: list[_Request]) -> bool:
        """Whether any sequence has something to evaluate now."""
        return any(r.prefilled < len(r.prompt) or any(
            s.finish_reason is None and (not s.paused or s.pending_text is not None)
            for s in r.sequences) for r in active)

    def _check_settled(self, request: _Request) -> None:
        finished = [s for s in request.sequences if s.finish_reason]
        if request.settled is None or len(finished) == request.finished_seen \
                or len(finished) == len(request.sequences):
            return
        request.finished_seen = len(finished)
        texts = [self._text(s) if s.finish_reason else None for s in request.sequences]
        if request.settled(texts):
            for seq in request.sequences:
                seq.finish_reason = seq.finish_reason or "cancelled"

    def _text(self, seq: _Sequence) -> str:
        return self._model.detokenize(seq.tokens).decode("utf-8", errors="replace")

    def _too_long(self, request: _Request) -> bool:
        """No room for the prompt and one token per sequence, even with the context to itself,
        or a prompt past the positions the model was trained for."""
        return (len(request.prompt) + request.n > self.n_ctx
                or len(request.prompt) + 1 > self.n_ctx_train)

    @staticmethod
    def _cells(request: _Request) -> int:
        return len(request.prompt) + request.n * request.max_tokens

    def _new_sequence(self, seq_id: int, request: _Request, index: int) -> _Sequence:
        s = request.sampling
        seq = _Sequence(seq_id=seq_id, sampler=None, position=len(request.prompt),
                        max_tokens=request.max_tokens, index=index)
        if s.temperature > 0:
            seq.random = np.random.default_rng(s.seed + index)  # each sample its own stream
        if request.want_logprobs:
            seq.logprobs = []
        if request.grammar is None and not self.llama_sampling:
            return seq  # chosen in numpy with the step's other sequences
        from llama_cpp import _internals

        sampler = _internals.LlamaSampler()
        if request.grammar is not None:
            sampler.add_grammar(self._model, request.grammar)
        if request.ignore_eos:
            sampler.add_logit_bias(self._model.n_vocab(),
                                   {t: float("-inf") for t in self._eog_tokens().tolist()})
        if s.temperature <= 0:
            sampler.add_greedy()
        else:
            if s.top_k > 0:
                sampler.add_top_k(s.top_k)
            if s.top_p < 1.0:
                sampler.add_top_p(s.top_p, 1)
            sampler.add_temp(s.temperature)
            sampler.add_dist(s.seed + index)
        seq.sampler = sampler
        return seq

    def _eog_tokens(self) -> np.ndarray:
        """Every end-of-generation token of the vocabulary (looked up once)."""
        if self._eog is None:
            is_eog = self._llama_cpp.llama_vocab_is_eog
            self._eog = np.array([t for t in range(self._model.n_vocab()) if is_eog(self._vocab, t)],
                                 dtype=np.int64)
            self._eog_set = set(self._eog.tolist())
        return self._eog

    def _step(self, active: list[_Request]) -> None:
        """One llama_decode: a token for every decoding sequence, interludes' text, prompt chunks,
        in that order of claim on the batch; then a token sampled for each that asked."""
        started = time.perf_counter()
        self._batch.n_tokens = 0
        self._outputs = []
        with self._cond:  # interludes hand their text over under the lock
            for r in active:
                for seq in r.sequences:
                    if seq.pending_text is not None:
                        self._take_interlude(seq)
        decoding = self._add_decoding(active)
        # With embeddings on, llama.cpp outputs every token of the batch (logits and all):
        # a step that reads a hidden state holds only tokens that are outputs anyway, the
        # decoding ones and the last prompt token of each request that asked.
        prefilled = self._add_hidden_finals(active)
        injecting = [] if prefilled else self._add_injections(active)
        prefilled = prefilled or self._add_prefill(active)
        if self._batch.n_tokens == 0:
            return
        # The hidden state comes out of the same llama_decode as the logits, only on the steps
        # that complete a prompt whose request asked for it.
        self._embeddings(any(request.want_hidden for request, _ in prefilled))
        code = self._llama_cpp.llama_decode(self._ctx.ctx, self._batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code} (KV cache full?)")
        for request, index in prefilled:
            if request.want_hidden:
                request.hidden = self._hidden_state(index)
        self.max_active = max(self.max_active, len(decoding))
        self._sample(active, decoding + injecting, prefilled)
        if self._batch.n_tokens == len(decoding):  # decode only: no prompt, no injected text
            self.decode_tokens += len(decoding)
            self.decode_seconds += time.perf_counter() - started

    def _embeddings(self, on: bool) -> None:
        if on != self._embeddings_on:
            self._llama_cpp.llama_set_embeddings(self._ctx.ctx, on)
            self._embeddings_on = on

    def _hidden_state(self, index: int) -> np.ndarray:
        """A copy of the hidden state llama.cpp wrote for batch position `index`."""
        pointer = self._llama_cpp.llama_get_embeddings_ith(self._ctx.ctx, index)
        if not pointer:
            raise RuntimeError("llama.cpp returned no hidden state for the prompt's last token")
        n_embd = self._llama_cpp.llama_model_n_embd(self._model.model)
        return step_sampling.floats(pointer, (n_embd,)).copy()

    def _add(self, token: int, position: int, seq_id: int, logits: bool) -> int:
        """One token into the batch; its index there."""
        batch = self._batch
        i = batch.n_tokens
        batch.token[i] = token
        batch.pos[i] = position
        batch.n_seq_id[i] = 1  # shared prompts are copied after prefill, not tagged twice
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits
        batch.n_tokens += 1
        if logits:
            self._outputs.append(i)
        return i

    def _add_decoding(self, active: list[_Request]) -> list[_Sequence]:
        """The last sampled token of every sequence that is decoding."""
        decoding = [s for r in active if r.prefilled == len(r.prompt)
                    for s in r.sequences if s.finish_reason is None and not s.paused and not s.inject]
        for seq in decoding:
            seq.batch_index = self._add(seq.tokens[-1], seq.position - 1, seq.seq_id, True)
        return decoding

    def _add_injections(self, active: list[_Request]) -> list[_Sequence]:
        """Text an interlude handed back (a program's output), where it fits in the batch; a
        text longer than a whole batch is cut to fit."""
        injecting: list[_Sequence] = []
        for r in active:
            for seq in r.sequences:
                room = self.n_batch - self._batch.n_tokens
                if not seq.inject or seq.finish_reason is not None:
                    continue
                if len(seq.inject) + 1 > room:
                    if self._batch.n_tokens:
                        continue  # next step, with the batch to itself
                    seq.inject = seq.inject[:room - 1]
                # The token sampled last is not evaluated yet: it goes first, then the text.
                self._add(seq.tokens[-1], seq.position - 1, seq.seq_id, False)
                for k, token in enumerate(seq.inject):
                    index = self._add(token, seq.position + k, seq.seq_id, k == len(seq.inject) - 1)
                seq.tokens.extend(seq.inject)
                seq.position += len(seq.inject)
                seq.injected += len(seq.inject)
                seq.inject = []
                seq.batch_index = index
                injecting.append(seq)
        return injecting

    def _add_prefill(self, active: list[_Request]) -> list[tuple[_Request, int]]:
        """Prompt chunks into the room left, once per request (its samples share the prompt);
        the requests whose prompt this step completes, with the index of its last token."""
        completed: list[tuple[_Request, int]] = []
        for request in active:
            room = self.n_batch - self._batch.n_tokens
            # A request that reads its hidden state evaluates its last token in a step of its own
            # kind (_add_hidden_finals).
            limit = len(request.prompt) - (1 if request.want_hidden else 0)
            if request.prefilled >= limit or room <= 0:
                continue
            if request.started is None:
                request.started = time.perf_counter()
            first = request.sequences[0].seq_id
            end = min(limit, request.prefilled + room)
            for position in range(request.prefilled, end):
                index = self._add(request.prompt[position], position, first,
                                  position == len(request.prompt) - 1)
            request.prefilled = end
            if end == len(request.prompt):
                completed.append((request, index))
        return completed

    def _add_hidden_finals(self, active: list[_Request]) -> list[tuple[_Request, int]]:
        """The last prompt token of each request that reads its hidden state and has the rest of
        its prompt evaluated; the requests whose prompt this completes, with its index."""
        completed: list[tuple[_Request, int]] = []
        for request in active:
            if not request.want_hidden or request.prefilled != len(request.prompt) - 1 \
                    or self._batch.n_tokens >= self.n_batch:
                continue
            if request.started is None:
                request.started = time.perf_counter()
            position = len(request.prompt) - 1
            index = self._add(request.prompt[position], position, request.sequences[0].seq_id, True)
            request.prefilled = len(request.prompt)
            completed.append((request, index))
        return completed

    def _sample(self, active: list[_Request], evaluated: list[_Sequence],
                prefilled: list[tuple[_Request, int]]) -> None:
        """A token for each sequence whose logits this step computed. A prompt completed now is
        first copied to the request's other sequences: computed once, shared by all."""
        llama_cpp = self._llama_cpp
        picks: list[tuple[_Request, _Sequence, int]] = []
        for request, index in prefilled:
            if request.max_tokens == 0:  # the prompt's evaluation was all it asked for
                for seq in request.sequences:
                    seq.finish_reason = "length"
                continue
            first = request.sequences[0].seq_id
            for seq in request.sequences[1:]:
                llama_cpp.llama_memory_seq_cp(self._ctx.memory, first, seq.seq_id, -1, -1)
            picks += [(request, seq, index) for seq in request.sequences]
        owner = {id(s): r for r in active for s in r.sequences}
        picks += [(owner[id(seq)], seq, seq.batch_index) for seq in evaluated]
        picks.sort(key=lambda pick: pick[2])  # batch order, llama.cpp's order of logits rows
        for (request, seq, _), token in zip(picks, self._choose(picks)):
            self._accept(request, seq, token)

    def _choose(self, picks: list[tuple[_Request, _Sequence, int]]) -> list[int]:
        """The next token of each pick: sequences under a grammar through llama.cpp's sampler,
        the rest in numpy, all sequences that share their settings at once."""
        tokens: list[int] = [0] * len(picks)
        groups: dict[tuple, list[int]] = {}
        for k, (request, seq, index) in enumerate(picks):
            if seq.sampler is not None:
                tokens[k] = self._llama_cpp.llama_sampler_sample(seq.sampler.sampler,
                                                                 self._ctx.ctx, index)
                continue
            s = request.sampling
            key = (0.0, 0, 1.0) if s.temperature <= 0 else (s.temperature, s.top_k, s.top_p)
            groups.setdefault((*key, request.ignore_eos), []).append(k)
        if not groups:
            return tokens
        # llama.cpp keeps the logits of the positions that asked, contiguously, in batch order.
        everything = step_sampling.logits_view(self._llama_cpp, self._ctx.ctx,
                                               len(self._outputs), self._model.n_vocab())
        row_of = {index: row for row, index in enumerate(self._outputs)}
        for (temperature, top_k, top_p, ignore_eos), members in groups.items():
            rows = step_sampling.take(everything, [row_of[picks[k][2]] for k in members])
            banned = self._eog_tokens() if ignore_eos else None
            if temperature <= 0:
                chosen = step_sampling.greedy(rows, banned)
            else:
                uniforms = np.array([picks[k][1].random.random() for k in members])
                chosen = step_sampling.sample(rows, uniforms, temperature=temperature,
                                              top_k=top_k, top_p=top_p, banned=banned)
            for k, token in zip(members, chosen.tolist()):
                tokens[k] = token
            asking = [j for j, k in enumerate(members) if picks[k][0].want_logprobs]
            if asking:
                values = step_sampling.logprobs(rows[asking], chosen[asking])
                for j, value in zip(asking, values.tolist()):
                    picks[members[j]][1].last_logprob = value
        return tokens

    def _accept(self, request: _Request, seq: _Sequence, token: int) -> None:
        if token in self._eog_set:
            seq.finish_reason = "stop"
            return
        if seq.logprobs is not None:
            seq.logprobs.append(seq.last_logprob)
            seq.generated.append(token)
        seq.tokens.append(token)
        seq.position += 1
        if len(seq.tokens) >= seq.max_tokens:
            seq.finish_reason = "length"
            return
        interlude = request.interlude
        if interlude is not None and "`" in self.piece(token):
            text = self._text(seq)
            if interlude.pause(text):
                seq.paused = True
                self._interludes.submit(self._run_interlude, interlude, seq, text)

    def _run_interlude(self, interlude: Interlude, seq: _Sequence, text: str) -> None:
        try:
            appended = interlude.resume(text, seq.index)
        except Exception as e:  # the interlude's failure is the sequence's text, not a crash
            appended = f"\n(the tool failed: {type(e).__name__}: {e})\n"
        with self._cond:
            seq.pending_text = appended
            self._cond.notify()

    def _take_interlude(self, seq: _Sequence) -> None:
        """Tokenize an interlude's text into the sequence, within its token budget."""
        text, seq.pending_text = seq.pending_text, None
        seq.paused = False
        if seq.finish_reason is not None:  # cancelled while it waited
            return
        tokens = self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        room = seq.max_tokens - len(seq.tokens) - 1
        if room <= 0:
            seq.finish_reason = "length"
            return
        seq.inject = tokens[:room]  # empty: it simply goes on from where it stood

    def piece(self, token: int) -> str:
        """A token's text (a part of a character, cut in two, shows as a replacement mark)."""
        return self._model.detokenize([token]).decode("utf-8", errors="replace")

    def _release(self, request: _Request, keep: bool = True) -> list[int]:
        """Free the request's samplers and sequence ids; keep its first sequence's cells for
        later requests that start the same way (the others are freed)."""
        freed = []
        for i, seq in enumerate(request.sequences):
            if seq.sampler is not None:
                seq.sampler.close()
            if keep and i == 0 and self.n_retain and self._ctx is not None:
                # Every token but the last sampled one was evaluated into the cells.
                self._retained[seq.seq_id] = request.prompt + seq.tokens[:-1]
                continue
            if self._ctx is not None:
                self._llama_cpp.llama_memory_seq_rm(self._ctx.memory, seq.seq_id, -1, -1)
            freed.append(seq.seq_id)
        while len(self._retained) > self.n_retain:
            freed.append(self._evict_oldest())
        return freed

    def _evict_oldest(self) -> int:
        seq_id, _ = self._retained.popitem(last=False)
        self._llama_cpp.llama_memory_seq_rm(self._ctx.memory, seq_id, -1, -1)
        return seq_id

    def _retained_cells(self) -> int:
        return sum(len(tokens) for tokens in self._retained.values())

    def _reuse_prefix(self, request: _Request) -> None:
        """Start the request from the kept cells that share the longest prefix with its prompt
        (at least one prompt token is left to evaluate: its logits are needed)."""
        best, length = None, 0
        for seq_id, tokens in self._retained.items():
            shared = _common_prefix(tokens, request.prompt, len(request.prompt) - 1)
            if shared > length:
                best, length = seq_id, shared
        if best is None or length < self.MIN_REUSE:
            self.prompt_tokens_evaluated += len(request.prompt)
            return
        first = request.sequences[0].seq_id
        self._llama_cpp.llama_memory_seq_cp(self._ctx.memory, best, first, 0, length)
        self._retained.move_to_end(best)  # recently useful: evicted last
        request.prefilled = request.reused = length
        self.prompt_tokens_reused += length
        self.prompt_tokens_evaluated += len(request.prompt) - length

    def _result(self, request: _Request) -> BatchResult:
        done = time.perf_counter()
        started = request.started or done
        return BatchResult(
            generations=[Generation(self._text(s), len(s.tokens) - s.injected, s.finish_reason or "stop",
                                    s.injected, tokens=tuple(s.generated),
                                    logprobs=tuple(s.logprobs or ()))
                         for s in request.sequences],
            prompt_tokens=len(request.prompt),
            queue_seconds=started - request.submitted,
            generate_seconds=done - started, prompt_reused=request.reused,
            hidden_state=request.hidden)


def _quietly(make):
    """`make()` without llama.cpp's warning that the unified KV pool is larger than the model's
    training context (each sequence's positions stay within it: _admit). llama-cpp-python
    0.3.36 maps ggml's WARN level to logging.ERROR, so verbose=False does not hide it."""
    import logging

    logger = logging.getLogger("llama-cpp-python")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return make()
    finally:
        logger.setLevel(level)


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """How many leading tokens `a` and `b` share, at most `limit`."""
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
