"""Synthesis pools: a job that kills its process is found and left out, not waited for."""

import os
import signal

import pytest

from seqrec.synth.workers import run_jobs


def _square_or_crash(job: int) -> int:
    if job in (7, 30):
        os.kill(os.getpid(), signal.SIGKILL)  # dies as eSpeak NG does on a few inputs
    if job == -1:
        raise ValueError("bad job -1")
    return job * job


@pytest.mark.parametrize("chunksize", [1, 4])
def test_a_crashing_job_is_left_out_and_every_other_job_runs(chunksize):
    results, crashed = run_jobs(_square_or_crash, range(40), num_workers=2, chunksize=chunksize)
    assert sorted(crashed) == [7, 30]
    assert sorted(results) == [j * j for j in range(40) if j not in (7, 30)]


def test_without_crashes_every_job_runs_once():
    results, crashed = run_jobs(_square_or_crash, [1, 2, 3, 4, 5], num_workers=2, chunksize=2)
    assert crashed == [] and sorted(results) == [1, 4, 9, 16, 25]


def test_an_error_raised_by_a_job_propagates():
    with pytest.raises(ValueError, match="bad job -1"):
        run_jobs(_square_or_crash, [1, -1, 2], num_workers=2)
