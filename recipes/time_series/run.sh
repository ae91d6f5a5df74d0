#!/usr/bin/env bash
# Time series: the eight UCR/UEA problems bundled with aeon (pip install -e '.[timeseries]').
#
#   recipes/time_series/run.sh                        # every problem, 5 seeds, with the peers
#   recipes/time_series/run.sh gunpoint               # one problem, one run
#   recipes/time_series/run.sh japanese_vowels seed=3 # extra Hydra overrides after it
set -euo pipefail

if [[ $# -eq 0 ]]; then
    exec seqrec-bench-ts
fi
problem=$1; shift
exec seqrec-train "experiment=ts_$problem" "$@"
