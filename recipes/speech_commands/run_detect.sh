#!/usr/bin/env bash
# Keyword detection in a stream, offline: train the detection preset (the ten command
# words, _unknown_ and _silence_; conf/experiment/kws_detect.yaml), build the synthetic
# test streams (eSpeak NG's held-out test voices, 1 h; seqrec-streams), and score the
# detector on them (seqrec-eval-stream): recall at 0.5, 1 and 5 false alarms per hour,
# the DET curve (det.png, det.csv), latency, and the threshold for 1 false alarm per
# hour, written beside the checkpoint (best.detect.json) for seqrec-detect to use.
#
#   recipes/speech_commands/run_detect.sh                  # everything, on the CPU
#   recipes/speech_commands/run_detect.sh trainer=gpu      # Hydra overrides for seqrec-train
#
# The run directory is hydra.run.dir when given, else outputs/kws_detect/<date>_<time>;
# the streaming figures go to <run>/checkpoints/stream_eval/.
set -euo pipefail

run=outputs/kws_detect/$(date +%Y-%m-%d_%H-%M-%S)
paths=()  # where the data lives, for seqrec-streams too
for arg in "$@"; do
    if [[ "$arg" == hydra.run.dir=* ]]; then run=${arg#hydra.run.dir=}; fi
    if [[ "$arg" == paths.* ]]; then paths+=("$arg"); fi
done
seqrec-train experiment=kws_detect "hydra.run.dir=$run" "$@"
built=$(seqrec-streams "${paths[@]}")   # first line: "<streams.jsonl>: N streams, H h"
echo "$built"
streams=${built%%:*}
ckpt=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["evaluated_checkpoint"])' \
    "$run/metrics.json")
seqrec-eval-stream "ckpt_path=$ckpt" "streams=$streams"
