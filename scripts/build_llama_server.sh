#!/usr/bin/env bash
# Build llama.cpp's llama-server from the source llama-cpp-python vendors, at the version
# pyproject.toml pins and with the same CMake flags as the Python binding (this CPU's portable
# set, plus LLAMA_EXTRA such as -DGGML_CUDA=on), so the shared inference service and a local
# reply model run the same llama.cpp.
#   scripts/build_llama_server.sh VERSION SHA256 "CMAKE ARGS" DEST_BIN
set -euo pipefail
version=$1 sha256=$2 cmake_args=$3 dest=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip=$(dirname "$dest")/pip
"$pip" download -q --no-deps --no-binary :all: --no-cache-dir -d "$work" "llama-cpp-python==$version"
sdist=$(ls "$work"/llama_cpp_python-*.tar.gz)
echo "$sha256  $sdist" | sha256sum -c --quiet - || {
  echo "llama-cpp-python $version sdist does not match its pinned sha256 (Makefile LLAMA_SDIST_SHA256)"
  exit 1
}
tar -xzf "$sdist" -C "$work"
src=$(ls -d "$work"/llama_cpp_python-*/vendor/llama.cpp)
# No web UI (it would be fetched from the network), no OpenSSL: the service listens on
# loopback only. Static, so the binary needs no libllama beside it.
# shellcheck disable=SC2086
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release $cmake_args \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF > "$work/cmake.log" 2>&1 \
  || { tail -20 "$work/cmake.log"; exit 1; }
cmake --build "$work/build" --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-2}" > "$work/build.log" 2>&1 \
  || { grep -m5 -i error "$work/build.log"; exit 1; }
install -m 0755 "$work/build/bin/llama-server" "$dest"
