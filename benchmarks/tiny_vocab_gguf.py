"""A Qwen2 GGUF with the real 151,936-token vocabulary and tokenizer but tiny layers (2 blocks,
width 32): its decode step costs little besides the vocabulary-wide logits, as on a GPU, so
what the batched decoder does per step outside llama_decode shows.

    python -m benchmarks.tiny_vocab_gguf QWEN.gguf OUT.gguf [--width 32] [--blocks 2]

QWEN.gguf is any Qwen2.5 GGUF (its metadata and tokenizer are copied; its weights are not
read), e.g. the stand-in from ../shared/tools/standin-models.sh. The weights are random F16:
the text is nonsense, the speed is the shapes'. Needs the `gguf` package (pip install gguf,
the maintained writer from llama.cpp's gguf-py). About 10 MB.
"""

from __future__ import annotations

import argparse

import numpy as np

ARCH = "qwen2"


def build(source: str, out: str, width: int = 32, blocks: int = 2, heads: int = 2,
          kv_heads: int = 1) -> None:
    import gguf

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(out, ARCH)
    sized = {f"{ARCH}.embedding_length": width, f"{ARCH}.feed_forward_length": 4 * width,
             f"{ARCH}.block_count": blocks, f"{ARCH}.attention.head_count": heads,
             f"{ARCH}.attention.head_count_kv": kv_heads}
    skip = {gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE,
            gguf.Keys.General.QUANTIZATION_VERSION}
    for field in reader.fields.values():
        if field.name in skip or field.name.startswith("GGUF.") or field.name in sized:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for name, value in sized.items():
        writer.add_uint32(name, value)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    kv = kv_heads * (width // heads)
    rng = np.random.default_rng(0)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (0.02 * rng.standard_normal((rows, cols), dtype=np.float32)).astype(np.float16)

    def vector(n: int, around: float = 0.0) -> np.ndarray:
        return (around + 0.02 * rng.standard_normal(n)).astype(np.float32)

    writer.add_tensor("token_embd.weight", matrix(vocab, width))
    writer.add_tensor("output_norm.weight", vector(width, 1.0))
    for b in range(blocks):
        for name, data in (("attn_norm.weight", vector(width, 1.0)),
                           ("attn_q.weight", matrix(width, width)), ("attn_q.bias", vector(width)),
                           ("attn_k.weight", matrix(kv, width)), ("attn_k.bias", vector(kv)),
                           ("attn_v.weight", matrix(kv, width)), ("attn_v.bias", vector(kv)),
                           ("attn_output.weight", matrix(width, width)),
                           ("ffn_norm.weight", vector(width, 1.0)),
                           ("ffn_gate.weight", matrix(4 * width, width)),
                           ("ffn_up.weight", matrix(4 * width, width)),
                           ("ffn_down.weight", matrix(width, 4 * width))):
            writer.add_tensor(f"blk.{b}.{name}", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    args = parser.parse_args()
    build(args.source, args.out, args.width, args.blocks)
    print(args.out)


if __name__ == "__main__":
    main()
