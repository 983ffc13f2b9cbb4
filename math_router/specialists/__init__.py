"""The models that tools call.

    base.py          Specialist protocol, SpecialistResult, SampleSet, Reading (the hidden state)
    modes.py         the answering modes (cot, tir) as objects: prompt, runs code, answer
    qwen_math.py     the GGUF specialist (on math_router.llama)
    tir.py           tool-integrated reasoning: run the Python the model writes, feed back output
    openai_compat.py a specialist behind an OpenAI-compatible server
    caching.py       the cached Specialist

The llama.cpp machinery they run on is math_router.llama.
"""
