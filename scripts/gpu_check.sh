#!/usr/bin/env bash
# The GPU box, checked: builds llama-cpp-python and the shared inference service with CUDA
# (sm_90 unless CUDA_ARCH says otherwise), then runs the reply model's load against the service
# with every layer on the GPU: 1, 8, 32 and 64 callers starting a reply at once.
#   scripts/gpu_check.sh            # on a box with an NVIDIA GPU, nvcc and this checkout
# Writes its figures to out/gpu-check.json and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "no nvidia-smi: this is not a GPU box"; exit 1; }
command -v nvcc >/dev/null || { echo "no nvcc: install the CUDA toolkit"; exit 1; }
arch=${CUDA_ARCH:-90}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
make install LLAMA_EXTRA="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$arch"
mkdir -p out
# Beside the repo's config, so its relative paths (models, persona, notes) resolve the same.
config=configs/.gpu-check.toml
trap 'rm -f "$config"' EXIT
sed -e 's/^device = "cpu"/device = "cuda"/' \
    -e 's/^mode = "local"/mode = "shared"/' configs/ceoline.toml > "$config"
.venv/bin/ceoline --config "$config" doctor || true
.venv/bin/python scripts/inference_load.py --config "$config" --levels 1,8,32,64 \
    --parallel 64 --rounds 3 --json | tee out/gpu-check.json
