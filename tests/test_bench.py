"""seqrec-bench: each measurement runs and the JSON line carries it."""

import json

import pytest

from seqrec.bench.suite import MEASUREMENTS, padding_efficiency, run
from tests.conftest import tiny_asr_overrides


def test_padding_efficiency_is_real_over_padded_seconds():
    # one bucket-sorted batch of [1, 2] and one of [3, 4] (at most 2 per batch)
    assert padding_efficiency([1.0, 2.0, 3.0, 4.0], None, 2) == pytest.approx(10 / 12)
    assert padding_efficiency([2.0] * 6, 8.0, None) == 1.0


def test_bench_measures_everything_and_ends_with_json(asr_data_dir, capsys):
    overrides = [o for o in tiny_asr_overrides(asr_data_dir) if o.startswith(("paths.", "data.", "frontend.",
                                                                              "encoder.", "decoder."))]  # fmt: skip
    results = run(["--steps", "2", "--utterances", "2", "--skip", "ddp2_speedup", *overrides])
    expected = set(MEASUREMENTS) - {"ddp2_speedup"}
    assert expected <= results.keys()
    assert 0 < results["padding_efficiency"] <= 1 and results["train_pipeline_efficiency"] > 0
    assert results["asr_rtf"] > 0 and results["kws_ms_per_clip"] > 0
    assert results["rnn_gflops"] > 0 and results["gemm_gflops"] > 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: last[k] for k in expected} == {k: results[k] for k in expected}
