#!/usr/bin/env bash
# What seqrec-predict and seqrec-eval give on checkpoints, written to one folder, so that
# two versions of the code can be compared byte for byte: run it under each (for example
# with PYTHONPATH pointing at another checkout), then `diff -r -I '"rtf":' OUT_A OUT_B`
# (seqrec-eval's rtf is a wall-clock measurement; every other byte should match).
#
#   scripts/snapshot_outputs.sh OUT NAME=CKPT:MANIFEST [NAME=CKPT:MANIFEST ...]
#
# A NAME that starts with asr is predicted with word times. Every command runs on one
# thread, so that the figures do not depend on the machine's thread count.
set -euo pipefail
out=$1
shift
mkdir -p "$out"
for item in "$@"; do
  name=${item%%=*}
  rest=${item#*=}
  ckpt=${rest%%:*}
  manifest=${rest#*:}
  times=()
  [[ $name == asr* ]] && times=(word_times=true)
  seqrec-predict ckpt_path="$ckpt" manifest="$manifest" output="$out/$name.predict.jsonl" \
    "${times[@]}" threads=1 > /dev/null
  seqrec-eval ckpt_path="$ckpt" manifest="$manifest" output="$out/$name.eval.json" threads=1 \
    > /dev/null
done
ls -l "$out"
