"""A GGUF's metadata and tensor shapes (what travels to a machine that can download nothing: a
few MB), and a GGUF rebuilt from them with random weights on that machine.

    python random_weights_gguf.py strip REAL.gguf skeleton.gguf shapes.json
    python random_weights_gguf.py build skeleton.gguf shapes.json OUT-f16.gguf

llama.cpp's speed depends on the shapes and the quantization, not on the weights' values, so
the rebuilt file (quantized with llama-quantize) decodes at the real model's speed; its text is
nonsense. Needs the `gguf` module (llama.cpp's gguf-py, carried in llama-cpp-python's sdist).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _copy_fields(reader, writer) -> None:
    import gguf

    skip = {gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE,
            gguf.Keys.General.QUANTIZATION_VERSION}
    for field in reader.fields.values():
        if field.name in skip or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)


def strip(source: str, skeleton: str, shapes_path: str) -> None:
    import gguf

    reader = gguf.GGUFReader(source)
    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(skeleton, arch)
    _copy_fields(reader, writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    shapes = [{"name": t.name, "shape": [int(x) for x in reversed(list(t.shape))]}
              for t in reader.tensors]
    with open(shapes_path, "w") as f:
        json.dump({"arch": arch, "tensors": shapes}, f)


def build(skeleton: str, shapes_path: str, out: str) -> None:
    import gguf

    reader = gguf.GGUFReader(skeleton)
    with open(shapes_path) as f:
        spec = json.load(f)
    writer = gguf.GGUFWriter(out, spec["arch"])
    _copy_fields(reader, writer)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    rng = np.random.default_rng(0)
    for tensor in spec["tensors"]:
        shape = tuple(tensor["shape"])  # numpy order: rows, columns
        if len(shape) == 1:  # norms and biases stay F32
            data = (1.0 + 0.02 * rng.standard_normal(shape)).astype(np.float32)
        else:
            data = (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float16)
        writer.add_tensor(tensor["name"], data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()


if __name__ == "__main__":
    {"strip": strip, "build": build}[sys.argv[1]](*sys.argv[2:])
