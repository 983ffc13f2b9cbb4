#!/usr/bin/env bash
# Build llama.cpp's own llama-server, llama-bench and llama-batched-bench from the source that
# the installed llama-cpp-python was built from (its PyPI sdist carries vendor/llama.cpp), with
# the CPU flags cpu_build.py reads from this machine's /proc/cpuinfo: the same kernels as the
# Python package, so their figures and ours compare like for like.
#
#   benchmarks/build_llama_tools.sh          # prints the folder that holds the three programs
#   benchmarks/build_llama_tools.sh --where  # the same folder, or exit 1 if it is not built
#
# Cached per (version, flags, compiler) under ${XDG_CACHE_HOME:-~/.cache}/math-router-ci/
# llama-tools/KEY/bin, as .ci/run caches the wheel: minutes once, seconds after. Offline but for
# PyPI: no curl, no OpenSSL, no prebuilt web UI from the Hub.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python}
version=${LLAMA_VERSION:-$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')}
flags="$("$python" "$here/math_router/llama/cpu_build.py")"
extra="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
-DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
compiler=$(c++ --version | head -n 1)
key=$(printf '%s %s %s %s' "$version" "$flags" "$extra" "$compiler" | sha256sum | cut -c1-16)
root=${XDG_CACHE_HOME:-$HOME/.cache}/math-router-ci/llama-tools/$key
tools="llama-server llama-bench llama-batched-bench"

have=1
for t in $tools; do [ -x "$root/bin/$t" ] || have=0; done
if [ "$have" = 1 ]; then
  echo "$root/bin"
  exit 0
fi
if [ "${1:-}" = "--where" ]; then
  echo "not built: run benchmarks/build_llama_tools.sh ($root)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build_llama_tools: llama.cpp of llama-cpp-python $version with $flags" >&2
"$python" -m pip download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version" >&2
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" $flags $extra >&2
# shellcheck disable=SC2086
cmake --build "$work/build" --target $tools -j "$(nproc)" >&2
mkdir -p "$root.part/bin"
for t in $tools; do cp "$work/build/bin/$t" "$root.part/bin/"; done
printf '%s\n' "llama-cpp-python $version" "$flags $extra" "$compiler" > "$root.part/BUILD"
rm -rf "$root" && mv "$root.part" "$root"
echo "$root/bin"
