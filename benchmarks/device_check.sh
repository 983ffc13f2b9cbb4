#!/usr/bin/env bash
# Run on a lent GPU machine (no network): build llama-cpp-python with CUDA from a
# carried source tarball, then run `check` and benchmarks/gpu_check.py.
# Carried in .device/: llama_cpp_python-*.tar.gz (sources, trimmed to fit),
# diskcache-*.whl, and a small GGUF (benchmarks/truncate_gguf.py).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi -L | tee "$OUT/gpu.txt"
nvcc=$(command -v nvcc); cuda=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
echo "CUDA toolkit: $cuda"
# ggml-cuda links cuBLAS; where the toolkit lacks it, use the pip nvidia-cublas files.
if [ ! -f "$cuda/include/cublas_v2.h" ]; then
  header=$(find /usr /opt -name cublas_v2.h 2>/dev/null | head -1)
  echo "cublas_v2.h found at: ${header:-nowhere}"
  if [ -n "$header" ]; then
    inc=$(dirname "$header"); lib=$(dirname "$inc")/lib
    cp -n "$inc"/cublas*.h "$cuda/include/" && mkdir -p "$cuda/lib64"
    for f in "$lib"/libcublas*.so*; do cp -an "$f" "$cuda/lib64/"; done
    for f in "$cuda"/lib64/libcublas*.so.*; do base=${f%%.so.*}.so; [ -e "$base" ] || ln -s "$f" "$base"; done
  fi
fi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .device/diskcache-*.whl
start=$(date +%s)
CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF -DLLAVA_BUILD=OFF" \
CMAKE_BUILD_PARALLEL_LEVEL=16 python3 -m pip install --no-build-isolation --no-deps --no-index \
  --target /tmp/site .device/llama_cpp_python-*.tar.gz > "$OUT/build.log" 2>&1
status=$?
echo "build: exit $status in $(( $(date +%s) - start )) s"
if [ $status -ne 0 ]; then tail -40 "$OUT/build.log"; exit 1; fi
export PYTHONPATH=/tmp/site:$PWD
python3 cli.py check --no-data | tee "$OUT/check.txt"
python3 -m benchmarks.gpu_check --gguf .device/*.gguf --out "$OUT/gpu_check.json"
