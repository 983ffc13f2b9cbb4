"""The models that tools call, and the llama.cpp machinery they run on.

    base.py          Specialist protocol, SpecialistResult, SampleSet, SamplingParams
    qwen_math.py     Qwen2.5-Math's prompt; the GGUF specialist
    openai_compat.py a specialist behind an OpenAI-compatible server
    caching.py       the cached Specialist
    gguf.py          model references: path, hf:OWNER/REPO/FILE, aliases
    llama_cpp.py     one llama.cpp runtime per GGUF: offload, threads, lock
    batched.py       several sequences decoded together in one llama.cpp batch
    cpu_build.py, build_probe.py  llama.cpp build flags for this CPU; does the build run here?

Imports nothing at package import: build_probe runs before the dependencies are installed.
"""
