#!/usr/bin/env bash
# Speech-to-text with CTC.
#
#   recipes/librispeech/run.sh                          # offline: synthetic eSpeak sentences (asr_synthetic)
#   recipes/librispeech/run.sh /data/LibriSpeech        # LibriSpeech train-clean-100, scored on test-clean
#
# Extra Hydra overrides go after, e.g. `... trainer=gpu decoding=beam_lm` or
# `data.prepare.train_subsets=[train-clean-100,train-clean-360,train-other-500]`.
# A run ends by printing its test WER/CER; then score it with other decoders:
#   seqrec-eval ckpt_path=<run>/checkpoints/best.ckpt manifest=<test manifest> decoding=beam_lm lm_text=...
set -euo pipefail

if [[ $# -eq 0 || "$1" == *=* ]]; then
    exec seqrec-train experiment=asr_synthetic "$@"
fi

root=$1; shift
exec seqrec-train experiment=asr_librispeech "data.prepare.root=$root" "$@"
