"""seqrec.core.series: series checked before use, missing values filled, files read
without running or allocating what a file says."""

import numpy as np
import pytest

from seqrec.core.series import SeriesError, check_series, fill_missing, read_series


def test_missing_values_are_interpolated_in_time_per_channel():
    values = np.array(
        [[np.nan, 5.0], [2.0, np.nan], [np.nan, np.nan], [4.0, 8.0], [np.nan, np.nan]]
    )
    filled = fill_missing(values)
    assert filled[:, 0].tolist() == [2.0, 2.0, 3.0, 4.0, 4.0]  # ends take the nearest value
    assert filled[:, 1].tolist() == [5.0, 6.0, 7.0, 8.0, 8.0]
    assert fill_missing(np.full((3, 1), np.nan)).tolist() == [[0.0], [0.0], [0.0]]
    assert np.isnan(values).sum() == 6  # the input is left as it was


def test_a_series_is_checked_and_named_in_the_error():
    assert check_series(np.arange(4.0), 1, "s").shape == (4, 1)  # one channel may be 1-D
    with pytest.raises(SeriesError, match=r"^s3: a series for this model has 2 channel"):
        check_series(np.zeros((5, 3)), 2, "s3")
    with pytest.raises(SeriesError, match="1 to 10 steps, got 11"):
        check_series(np.zeros((11, 1)), 1, "s", max_length=10)
    with pytest.raises(SeriesError, match="1 to 10 steps, got 0"):
        check_series(np.zeros((0, 1)), 1, "s", max_length=10)
    bad = np.zeros((6, 2))
    bad[4, 1] = -np.inf
    with pytest.raises(SeriesError, match=r"infinite value \(the first at step 4, channel 1\)"):
        check_series(bad, 2, "s")
    with pytest.raises(SeriesError, match="real numbers, not <U1"):
        check_series(np.array([["a"]]), 1, "s")


def test_a_series_file_runs_nothing_and_is_checked_before_it_is_read(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.array([[1.0, np.nan], [3.0, 4.0]]))
    assert read_series(good, 2).tolist() == [[1.0, 4.0], [3.0, 4.0]]
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SeriesError, match=r"pickled\.npy: not a readable \.npy array"):
        read_series(pickled, 1)
    with pytest.raises(SeriesError, match=r"gone\.npy: file not found"):
        read_series(tmp_path / "gone.npy", 1)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(SeriesError, match=r"junk\.npy: not a readable"):
        read_series(tmp_path / "junk.npy", 1)
    long = tmp_path / "long.npy"
    np.lib.format.open_memmap(long, mode="w+", dtype=np.float32, shape=(50, 1))
    with pytest.raises(SeriesError, match="1 to 20 steps, got 50"):
        read_series(long, 1, max_length=20)
