#!/usr/bin/env bash
# On a GPU machine with no network, from the repository root with .device/ laid out by
# benchmarks/gpu/prepare.sh: build llama.cpp with CUDA (sm_90; FlashAttention kernels off to
# save build time: ~285 s on 16 cores), make a Qwen2.5-1.5B-shaped GGUF with random weights,
# quantize it to Q4_K_M, then measure (one command of under 9 minutes):
#   1. benchmarks.llama_limit: our BatchedDecoder against llama-batched-bench, 1-128 sequences;
#   2. benchmarks.slm_concurrency: 64 concurrent slm requests through the product's own path;
#   3. with STRETCH=1, all 1,319 GSM8K test problems through `solve --input --method slm`.
# Everything printed is also in $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
D=$PWD/.device
nvidia-smi -L; nproc
nvcc=$(command -v nvcc); cuda=$(dirname "$(dirname "$(readlink -f "$nvcc")")"); echo "CUDA: $cuda"
if [ ! -f "$cuda/include/cublas_v2.h" ]; then  # ggml-cuda links cuBLAS: take pip's where missing
  header=$(find /usr /opt -name cublas_v2.h 2>/dev/null | head -1); echo "cublas_v2.h at ${header:-nowhere}"
  if [ -n "$header" ]; then
    inc=$(dirname "$header"); lib=$(dirname "$inc")/lib
    cp -n "$inc"/cublas*.h "$cuda/include/" && mkdir -p "$cuda/lib64"
    for f in "$lib"/libcublas*.so*; do cp -an "$f" "$cuda/lib64/"; done
    for f in "$cuda"/lib64/libcublas*.so.*; do base=${f%%.so.*}.so; [ -e "$base" ] || ln -s "$f" "$base"; done
  fi
fi
W=/tmp/w; mkdir -p $W /tmp/site
tar xzf "$D/llama-src.tar.gz" -C $W
python3 -m pip install -q --no-index --no-deps --target /tmp/site "$D"/diskcache-*.whl
cp -r $W/llama_cpp /tmp/site/
( start=$(date +%s); PYTHONPATH=$W/llama.cpp/gguf-py python3 "$D/project/benchmarks/gpu/random_weights_gguf.py" \
    build "$D/skel.gguf" "$D/shapes.json" $W/f16.gguf && echo "weights: $(( $(date +%s) - start )) s" ) &
synth=$!
start=$(date +%s)
cmake -S $W/llama.cpp -B $W/build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF \
  -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DCMAKE_BUILD_TYPE=Release > $W/cfg.log 2>&1 \
  || { tail -30 $W/cfg.log; exit 1; }
cmake --build $W/build --target llama llama-batched-bench llama-bench llama-quantize -j "$(nproc)" \
  > $W/build.log 2>&1 || { tail -40 $W/build.log; exit 1; }
echo "build: $(( $(date +%s) - start )) s"
wait $synth || { echo "random weights failed"; exit 1; }
$W/build/bin/llama-quantize $W/f16.gguf $W/q4km.gguf Q4_K_M "$(nproc)" > $W/quant.log 2>&1 \
  || { tail -20 $W/quant.log; exit 1; }
rm -f $W/f16.gguf
export LLAMA_CPP_LIB_PATH=$W/build/bin PYTHONPATH=/tmp/site:$D/project
cd "$D/project"
python3 -m benchmarks.llama_limit --model $W/q4km.gguf --bin $W/build/bin --ngl 99 \
  --batches ${BATCHES:-1,8,32,64,128} --repeat 1 --threads 8
python3 -m benchmarks.slm_concurrency --gguf $W/q4km.gguf --requests 64 --max-tokens 128
if [ "${STRETCH:-0}" = 1 ]; then
  start=$(date +%s.%N)
  python3 cli.py solve --input data/gsm8k/test.jsonl --method slm --specialist $W/q4km.gguf \
    --specialist-max-tokens 300 --out /tmp/all-gsm8k --no-cache --no-progress > /tmp/solve.log 2>&1
  echo "solve --input, 1,319 GSM8K problems, slm: exit $? in $(echo "$(date +%s.%N) - $start" | bc) s"
  tail -3 /tmp/solve.log
fi
