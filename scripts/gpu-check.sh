#!/usr/bin/env bash
# GPU check: does sieve compute on this machine's NVIDIA GPU, and how fast?
#
# Needs bin/sieve and lib/ollama built by `make` with the CUDA backend
# (README, "Backends and GPUs"), the NVIDIA driver, and no network. It
# writes a model of random weights of CausalLM 14B's shape in Q4_0 (about
# 8 GB; or the small 246M shape where the disk has no room for it, and
# says so), then runs `sieve bench` with every layer on the GPU: 1 and 4
# jobs, through NATS and a 20,000-keyword filter, and the time to the
# first token at 32, 256 and 1024 prompt tokens. It prints decode tokens/s,
# first-token times, the GPU memory the model took and the backend that
# ran, and exits 1 when the GPU was not used (the reason is printed), 2
# when it ran past its time (5 minutes).
#
#   scripts/gpu-check.sh            or    make gpu-check
#   SHAPE=small scripts/gpu-check.sh      a smaller model, for a small GPU
#   MODEL=/data/q14b.gguf ...             where the model is written (kept for the next run)
set -euo pipefail
cd "$(dirname "$0")/.."

SIEVE=${SIEVE:-bin/sieve}
SHAPE=${SHAPE:-causallm14b}
DIR=${GPU_CHECK_DIR:-${TMPDIR:-/tmp}/sieve-gpu-check}
LIMIT=${LIMIT:-300}

[ -x "$SIEVE" ] || { echo "gpu-check: $SIEVE is missing: run make first" >&2; exit 1; }
mkdir -p "$DIR"
if [ "$SHAPE" = causallm14b ] && [ -z "${MODEL:-}" ] && [ ! -f "$DIR/causallm14b-q4_0.gguf" ]; then
	free_gb=$(df -Pk "$DIR" | awk 'NR == 2 { print int($4 / 1048576) }')
	if [ "$free_gb" -lt 10 ]; then
		echo "gpu-check: only ${free_gb} GB free in $DIR, and CausalLM 14B's shape needs 8: using the small shape (246M parameters) instead"
		SHAPE=small
	fi
fi
MODEL=${MODEL:-$DIR/$SHAPE-q4_0.gguf}

echo "== sieve version"
"$SIEVE" version
if command -v nvidia-smi >/dev/null; then
	echo "== nvidia-smi"
	nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,memory.used --format=csv || true
fi

echo "== sieve bench: $SHAPE (Q4_0) at $MODEL, every layer on the GPU"
start=$(date +%s)
set +e
timeout --signal=INT "$LIMIT" "$SIEVE" bench --random "$SHAPE" --type q4_0 --model "$MODEL" \
	--gpu-layers -1 --require-gpu --parallel 4 --prompt-tokens 32 --gen-tokens 128 --rounds 2
status=$?
set -e
took=$(($(date +%s) - start))
case $status in
0) echo "gpu-check: the GPU ran ($SHAPE, ${took}s)" ;;
124 | 130) echo "gpu-check: ran past ${LIMIT}s" >&2; exit 2 ;;
*) echo "gpu-check: FAILED: the GPU was not used, or sieve bench failed (exit $status)" >&2; exit 1 ;;
esac
