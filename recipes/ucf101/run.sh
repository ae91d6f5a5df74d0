#!/usr/bin/env bash
# Video action classification.
#
#   recipes/ucf101/run.sh                         # offline: synthetic order-only actions
#   recipes/ucf101/run.sh /data/UCF101            # UCF101, split 1
#   recipes/ucf101/run.sh /data/HMDB51 hmdb51     # HMDB51, split 1
#
# Extra Hydra overrides go after, e.g. `... trainer=gpu data.prepare.split=2`
# or `frontend.backbone.weights_path=/models/resnet18.pth`.
set -euo pipefail

if [[ $# -eq 0 || "$1" == *=* ]]; then
    exec seqrec-train experiment=video_synthetic "$@"
fi

root=$1; shift
dataset=ucf101
if [[ $# -gt 0 && "$1" != *=* ]]; then dataset=$1; shift; fi
exec seqrec-train "experiment=video_$dataset" "data.prepare.root=$root" "$@"
