"""The tool-calling loop and everything it needs to talk to a model. Imports nothing above it.

    loop.py         run(chat, tools, messages) -> Trace; summarize() fills usage, seconds, cost
    chat.py         ChatModel protocol; OpenAIChat (openai SDK, any base_url)
    model_card.py   ModelCard: what a model says of itself (its runtime, server, effort)
    http.py         the openai clients, with a deadline for each whole reply
    tool_call_text.py  tool calls written as text (<tool_call>, ```json) -> ToolRequests
    toolbox.py      Toolbox protocol and ToolResult: what the loop needs of its tools
    trace.py        Usage, ToolRequest, Turn, ToolCall, Trace (JSON round-trip)
    sampling.py     SamplingParams, GREEDY: how k solutions are sampled
    answers.py      extract_answer, normalize, vote, escalates: answers and the vote's rule
    pricing.py      the dated price table; cost(usage)
    openai_models.py  which OpenAI models reason by default, which retire when, replacements
    cache.py, caching.py  the SQLite response cache and the cached ChatModel
    batch_api.py    BatchChat, BatchRounds, BatchLedger: the OpenAI Batch API behind ChatModel
    appendlog.py    append-only JSONL that a kill cannot damage
    progress.py     say(): progress lines while a question is answered
    cancel.py, turn_params.py  a request's context: its asker gone; its own temperature, ...
    hub.py          may the Hugging Face Hub be used right now?
    errors.py       UserError, TransportError, ToolError, UnusableText
"""
