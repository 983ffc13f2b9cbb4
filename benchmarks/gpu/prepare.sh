#!/usr/bin/env bash
# Here (with PyPI): lay out .device/ for benchmarks/gpu/run.sh on a GPU machine that can
# download nothing and takes at most 64 MiB: llama-cpp-python's source trimmed to the CUDA
# build (~6 MB), the diskcache wheel, a Qwen2.5 GGUF's metadata and shapes (~6 MB), the
# project's code, and the GSM8K test set.
#
#   bash benchmarks/gpu/prepare.sh QWEN2.5-1.5B.gguf      # e.g. the stand-in from
#                                                         # ../shared/tools/standin-models.sh
# then, with the device tool: bash benchmarks/gpu/run.sh  (carry: .device)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:?a Qwen2.5 1.5B GGUF (its metadata and shapes travel, not its weights)}
version=${LLAMA_CPP_VERSION:-0.3.36}
python=${PYTHON:-python3}
rm -rf .device && mkdir -p .device
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download -q --no-deps --no-binary :all: -d "$tmp" "llama-cpp-python==$version"
"$python" -m pip download -q --no-deps -d .device diskcache
tar xzf "$tmp"/llama_cpp_python-*.tar.gz -C "$tmp"
src=$(ls -d "$tmp"/llama_cpp_python-*/)
mkdir -p "$tmp/pack/llama.cpp"
cp -r "$src/llama_cpp" "$tmp/pack/"
# What a CUDA build of the library, llama-bench, llama-batched-bench and llama-quantize reads.
(cd "$src/vendor/llama.cpp" && tar cf - --exclude=./models --exclude=./docs --exclude=./tests \
   --exclude=./tools/server/webui --exclude=./tools/server/public --exclude=./examples \
   --exclude=./ggml/src/ggml-vulkan --exclude=./ggml/src/ggml-sycl --exclude=./ggml/src/ggml-metal \
   --exclude=./ggml/src/ggml-opencl --exclude=./ggml/src/ggml-cann --exclude=./ggml/src/ggml-musa \
   --exclude=./ggml/src/ggml-webgpu --exclude=./ggml/src/ggml-hexagon --exclude=./.git \
   --exclude=./media --exclude='*.gguf' --exclude='*.mp4' --exclude='*.mp3' --exclude='*.jpeg' .) \
  | tar xf - -C "$tmp/pack/llama.cpp"
mkdir -p "$tmp/pack/llama.cpp/examples" && printf '' > "$tmp/pack/llama.cpp/examples/CMakeLists.txt"
tar czf .device/llama-src.tar.gz -C "$tmp/pack" llama_cpp llama.cpp
PYTHONPATH="$src/vendor/llama.cpp/gguf-py" "$python" benchmarks/gpu/random_weights_gguf.py strip \
  "$model" .device/skel.gguf .device/shapes.json
mkdir -p .device/project/data/gsm8k
cp -r math_router benchmarks cli.py .device/project/
cp data/gsm8k/test.jsonl .device/project/data/gsm8k/
find .device -name __pycache__ -prune -exec rm -rf {} +
du -sh .device
