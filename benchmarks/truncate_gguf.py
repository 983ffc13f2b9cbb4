"""Write a copy of a GGUF that keeps only its first N layers (a small model for device checks).

    pip install gguf
    python -m benchmarks.truncate_gguf IN.gguf OUT.gguf --layers 8

The GPU machine takes at most 64 MiB of files, so the device check runs on
SmolLM2-135M cut to 8 of its 30 layers (about 36 MB). Its text is nonsense;
what it checks is that the CUDA build, offload, the runtime and the batched
decoder work, and how decode speed compares on the same model.
"""

from __future__ import annotations

import argparse
import re

import gguf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()

    reader = gguf.GGUFReader(args.source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(args.target, arch)
    block_count = gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        value = args.layers if field.name == block_count else field.contents()
        writer.add_key_value(field.name, value, value_type, sub_type=sub_type)
    kept = [t for t in reader.tensors
            if not (m := re.match(r"blk\.(\d+)\.", t.name)) or int(m.group(1)) < args.layers]
    for t in kept:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in kept:
        writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
    writer.close()
    print(f"{args.target}: {len(kept)} of {len(reader.tensors)} tensors, {args.layers} layers")


if __name__ == "__main__":
    main()
