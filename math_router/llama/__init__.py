"""llama.cpp in process: what the local chat model and the GGUF specialist both run on.

    runtime.py      LlamaRuntime: one llama.cpp model per GGUF (offload, threads, lock);
                    shared_runtime
    batched.py      BatchedDecoder: several sequences decoded together in one llama.cpp batch
    step_sampling.py  every sequence's next token from the logits in place, in numpy
    chat.py         LlamaChat: a GGUF chat model behind engine.chat.ChatModel
    gguf.py         model references: path, hf:OWNER/REPO/FILE, aliases
    cpu_build.py    llama.cpp build flags for this CPU (run as a script by .ci/run)
    build_probe.py  does the installed build run on this CPU? (a child process)

Sits above engine and below specialists. Imports nothing at package import: build_probe
and cpu_build run before the dependencies are installed.
"""
