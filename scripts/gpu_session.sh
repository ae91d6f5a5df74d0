#!/usr/bin/env bash
# One device-machine session for the GPU figures of seqrec-bench and of asr_synthetic
# training: about 9 minutes on one H100/H200 with 16 CPU cores.
#
#   scripts/fetch_gpu_wheels.sh        # here, once: wheels the GPU image lacks, into .whl/
#   scripts/gpu_session.sh             # there, from the repository root (carry .whl)
#   SMOKE=1 scripts/gpu_session.sh     # anywhere: the same steps on a tiny corpus, on the CPU
#
# It writes gpu.txt, bench.log, train.log, train_timer.json and metrics.json to $OUT.
# Each step has its own time limit, so one that hangs cannot take the others' time.
set -uo pipefail
OUT=${OUT:-/tmp/seqrec-gpu}
mkdir -p "$OUT"
if [[ "${SMOKE:-0}" != 1 ]] && compgen -G ".whl/*.whl" >/dev/null; then  # built for the GPU image
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-/tmp/seqrec-data}
RUN_DIR=${RUN_DIR:-/tmp/seqrec-run}
WORKERS=${WORKERS:-8}

if [[ "${SMOKE:-0}" == 1 ]]; then
    ACCEL=(--accelerator cpu)
    TRAINER=(trainer=cpu +trainer.max_steps=8 +trainer.limit_val_batches=2)
    STEPS=2
    SIZE=("data.prepare.utterances={train: 40, val: 4, test: 4}" data.prepare.lm_sentences=200
          data.prepare.val_voices=2 data.prepare.test_voices=2 data.max_batch_seconds=20
          decoder.hidden=32 decoder.num_layers=1 encoder.out_dim=32)
    WORKERS=1
else
    ACCEL=(--accelerator gpu)
    TRAINER=(trainer=gpu trainer.max_epochs=2)
    STEPS=40
    SIZE=()
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
fi
DATA=(paths.data_dir="$DATA_DIR" data.num_workers="$WORKERS" data.prepare.num_workers="$(nproc)" "${SIZE[@]}")

echo "== corpus ($(date -u +%T))"
timeout 120 "$PY" -c "
import sys
from hydra.utils import instantiate
from seqrec.bench.suite import compose_config
instantiate(compose_config('asr_synthetic', sys.argv[1:]).data.prepare)()
" "${DATA[@]}" || echo "corpus step failed: $?"

echo "== seqrec-bench ($(date -u +%T))"
timeout 300 "$PY" -m seqrec.bench.suite "${ACCEL[@]}" --threads 4 --steps "$STEPS" --repeats 2 \
    --skip asr_rtf,kws_ms_per_clip,ddp2_speedup "${DATA[@]}" 2>&1 | tee "$OUT/bench.log"

echo "== asr_synthetic training ($(date -u +%T))"
timeout 240 "$PY" -m seqrec.cli.train experiment=asr_synthetic "${TRAINER[@]}" "${DATA[@]}" \
    hydra.run.dir="$RUN_DIR" trainer.enable_progress_bar=false \
    "+callbacks.timer={_target_: seqrec.bench.timing.StepTimer, warmup: 5, output: $OUT/train_timer.json}" \
    2>&1 | tee "$OUT/train.log" | grep -E "val/|test/|Error|error|Epoch" | tail -40
cp "$RUN_DIR/metrics.json" "$OUT/" 2>/dev/null || echo "no metrics.json (training did not finish)"
cat "$OUT/train_timer.json" 2>/dev/null && echo
echo "== done ($(date -u +%T))"
