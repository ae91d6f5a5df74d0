#!/usr/bin/env bash
# Speech-to-text with CTC.
#
#   recipes/librispeech/run.sh                          # offline: synthetic eSpeak sentences (asr_synthetic)
#   recipes/librispeech/run.sh /data/LibriSpeech        # LibriSpeech train-clean-100, scored on test-clean and test-other
#
# Extra Hydra overrides go after, e.g. `... trainer=gpu decoding=beam_lm` or
# `data.prepare.train_subsets=[train-clean-100,train-clean-360,train-other-500]`.
# The LibriSpeech run tests its checkpoint on test-clean (test/wer in metrics.json),
# then scores the same checkpoint on test-other with seqrec-eval
# (<run>/test-other.json). Both score every utterance. The run directory is
# hydra.run.dir when given, else outputs/asr_librispeech/<date>_<time>.
# Score it with other decoders afterwards:
#   seqrec-eval ckpt_path=<run>/checkpoints/best.ckpt manifest=<test manifest> decoding=beam_lm lm_text=...
set -euo pipefail

if [[ $# -eq 0 || "$1" == *=* ]]; then
    exec seqrec-train experiment=asr_synthetic "$@"
fi

root=$1; shift
run=outputs/asr_librispeech/$(date +%Y-%m-%d_%H-%M-%S)
device=cpu
for arg in "$@"; do
    if [[ "$arg" == hydra.run.dir=* ]]; then run=${arg#hydra.run.dir=}; fi
    if [[ "$arg" == trainer=gpu || "$arg" == trainer=ddp* ]]; then device=cuda; fi
done
seqrec-train experiment=asr_librispeech "data.prepare.root=$root" "hydra.run.dir=$run" "$@"

# the checkpoint the run tested, and test-other's manifest (none when not prepared)
read -r ckpt other < <(python - "$run" <<'EOF'
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

run = Path(sys.argv[1])
cfg = OmegaConf.load(run / "config.yaml")
manifest = Path(cfg.data.prepare.out_dir) / "test-other.jsonl"
prepared = "test-other" in cfg.data.prepare.eval_subsets
print(json.loads((run / "metrics.json").read_text())["evaluated_checkpoint"], manifest if prepared else "")
EOF
)
if [[ -z "$other" ]]; then
    echo "test-other not scored: it is not in data.prepare.eval_subsets" >&2
    exit 0
fi
seqrec-eval "ckpt_path=$ckpt" "manifest=$other" "output=$run/test-other.json" "device=$device"
