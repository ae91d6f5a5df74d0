"""seqrec.bench.time_series: the peers' padded arrays, the per-seed summary and the
results table."""

import numpy as np
import pytest

from seqrec.bench.time_series import PROBLEMS, PUBLISHED, padded, summary, table


def test_the_peers_get_series_zero_padded_with_missing_values_filled():
    series = [np.array([[1.0, 2.0], [np.nan, 4.0]]), np.array([[5.0, 6.0]])]
    out = padded(series, 3)
    assert out.shape == (2, 2, 3)  # (N, C, T), as aeon and sktime take them
    assert out[0].tolist() == [[1.0, 1.0, 0.0], [2.0, 4.0, 0.0]]
    assert out[1].tolist() == [[5.0, 0.0, 0.0], [6.0, 0.0, 0.0]]


def test_seeds_are_summarised_and_tabled_beside_the_published_figures():
    runs = [{"acc": 0.9, "seconds": 10.0}, {"acc": 1.0, "seconds": 20.0}]
    s = summary(runs)
    assert s["acc_mean"] == pytest.approx(0.95) and s["acc_std"] == pytest.approx(0.0707, abs=1e-4)
    assert s["seconds_mean"] == 15.0 and s["runs"] == 2
    results = {
        "GunPoint": {"seqrec": s, "minirocket": summary(runs[:1])},
        "BasicMotions": {"seqrec": summary(runs[1:]), "minirocket": summary(runs[1:])},
    }
    text = table(results).splitlines()
    assert text[2].startswith(
        "| GunPoint | 0.950 ± 0.071 (2 seeds, 15 s) | 0.900 ± 0.000 (1 seed, 10 s)"
    )
    assert "InceptionTime, mean of 30 resamples 0.995" in text[2]
    assert text[-1] == "| mean of the 2 | 0.975 | 0.950 | – | |"  # no sktime runs: no mean
    assert set(PUBLISHED) == set(PROBLEMS.values())
