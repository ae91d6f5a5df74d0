#!/usr/bin/env bash
# Voice commands (keyword spotting).
#
#   recipes/speech_commands/run.sh                     # offline: synthetic eSpeak NG corpus
#   recipes/speech_commands/run.sh /data/speech_commands_v0.02          # Speech Commands v2, 12 classes
#   recipes/speech_commands/run.sh /data/speech_commands_v0.02 35       # the 35-word task
#
# The 12-class test set is derived from testing_list.txt unless the released one is
# given: `... data.prepare.test_root=/data/speech_commands_test_set_v0.02` (the set
# published v2-12 figures use).
#
# Extra Hydra overrides go after, e.g. `... decoder.cell=gru trainer=gpu`.
set -euo pipefail

if [[ $# -eq 0 || "$1" == *=* ]]; then
    exec seqrec-train experiment=kws_synthetic "$@"
fi

root=$1; shift
task=12
if [[ $# -gt 0 && "$1" != *=* ]]; then task=$1; shift; fi
data=speech_commands
[[ "$task" == 35 ]] && data=speech_commands35
exec seqrec-train experiment=kws_speech_commands data=$data "data.prepare.root=$root" "$@"
