"""seqrec.kws.calibration and seqrec-eval-stream's calibration: offsets that line up
the keywords' impostor tails, a sweep over them that counts exactly the detector's
events at the per-keyword thresholds, and the thresholds written for detect()."""

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.kws.calibration import Calibration, calibrate, impostor_scores, logit, sigmoid
from seqrec.kws.det import ALL, candidate_thresholds, match_events, sweep
from seqrec.kws.detector import Track, detect, trigger
from seqrec.kws.evaluate import evaluate_streams
from seqrec.kws.settings import read_sidecar
from seqrec.kws.streams_manifest import Keyword, Stream
from tests.helpers import ToneSpotter
from tests.helpers import write_tone_streams as write_streams

LABELS = ("_silence_", "yes", "no")


def track_of(yes: np.ndarray, no: np.ndarray, rate: int = 10) -> Track:
    """Windows of 1 s ending every 0.1 s from 1 s on, with these keyword scores."""
    ends = rate + np.arange(yes.size) * (rate // 10)
    smoothed = np.stack([1 - np.maximum(yes, no), yes, no], axis=1)
    return Track(LABELS, rate, rate, ends, smoothed)


def test_offsets_line_up_each_keywords_impostor_tail():
    n = 100  # windows ending at 1.0 .. 10.9 s
    yes, no = np.full(n, 0.05), np.full(n, 0.02)
    yes[20], no[50] = 0.9, 0.3  # each word's highest impostor window
    yes[70:75] = 0.99  # where "yes" is spoken: not an impostor of it
    stream = Stream("s", Path("s.wav"), 11.0, (Keyword("yes", 7.5, 7.9),))
    track = track_of(yes, no)
    impostors = impostor_scores([track], [stream], guard_seconds=0.5)
    assert impostors["yes"].max() == 0.9 and impostors["no"].max() == 0.3
    assert impostors["yes"].size == n - 20  # ends in [7.5, 7.9 + 1 + 0.5] are left out
    calibration = calibrate([track], [stream], rank=1, source="val")
    assert sum(calibration.offsets.values()) == pytest.approx(0.0, abs=1e-9)
    assert calibration.offsets["yes"] > 0 > calibration.offsets["no"]
    # the reference threshold at the tails' mean logit stands for each keyword's own tail
    middle = float(sigmoid((logit(0.9) + logit(0.3)) / 2))
    assert calibration.thresholds(middle) == pytest.approx({"yes": 0.9, "no": 0.3})
    assert calibration.thresholds(0.0) == {"yes": 0.0, "no": 0.0}  # fire on everything
    assert calibration.impostor_windows == n - 25 and calibration.streams == "val"  # guard 1 s
    with pytest.raises(ValueError, match="fewer than calibration_rank=500"):
        calibrate([track], [stream], rank=500, source="val.jsonl")
    with pytest.raises(ValueError, match="at least 1"):
        calibrate([track], [stream], rank=0)


def test_calibrated_scores_cross_the_reference_where_raw_ones_cross_their_own():
    rng = np.random.default_rng(0)
    track = track_of(rng.random(300), rng.random(300))
    calibration = Calibration({"yes": 0.8, "no": -0.8})
    calibrated = calibration.calibrated(track)
    for reference in (0.2, 0.5, 0.77, 0.95):
        limits = calibration.thresholds(reference)
        for c, word in ((1, "yes"), (2, "no")):
            raw, moved = track.smoothed[:, c], calibrated.smoothed[:, c]
            clear = np.abs(raw - limits[word]) > 1e-9  # away from rounding at the limit
            assert np.array_equal((raw >= limits[word])[clear], (moved >= reference)[clear])
    assert np.array_equal(calibrated.smoothed[:, 0], track.smoothed[:, 0])  # not a keyword
    # at the ends of the scale: 0 and 1 stay put, so a score of 1 fires at 1 on both scales
    edge = track_of(np.array([1.0, 1 - 1e-8, 0.0]), np.array([0.0, 0.5, 1.0]))
    moved = calibration.calibrated(edge).smoothed
    assert moved[0, 1] == 1.0 and moved[2, 2] == 1.0 and moved[0, 2] == 0.0
    assert calibration.thresholds(1.0) == {"yes": 1.0, "no": 1.0}
    assert [e.end for e in trigger(edge, calibration.thresholds(1.0))] == [1.0]


def test_the_candidate_thresholds_of_calibrated_tracks_hold_every_operating_point():
    # a window past both limits fires the word with the higher raw score, so the events
    # also change where a keyword's calibrated score lies below the window's best. Here
    # "no" at 1.1 s with "yes" at 6.0 s fires only between two such scores, 1e-4 apart.
    calibration = Calibration({"yes": -1.0, "no": 1.0})
    yes, no = np.full(52, 0.05), np.full(52, 0.05)
    yes[1], no[1] = 0.6, 0.8  # 1.1 s: calibrated 0.803 and 0.595
    yes[50] = float(sigmoid(logit(0.7) - 1.0))  # 6.0 s: calibrated 0.7 ...
    no[50] = float(sigmoid(logit(0.5949) + 1.0))  # ... and 0.5949, its raw score the higher
    track = track_of(yes, no)

    def events(reference: float) -> tuple:
        return tuple((e.word, e.end) for e in trigger(track, calibration.thresholds(reference)))

    seen = {events(t) for t in np.linspace(0.0, 1.0, 20001)}
    assert (("no", 1.1), ("yes", 6.0)) in seen  # the narrow operating point is there
    swept = {
        events(t) for t in candidate_thresholds([calibration.calibrated(track)], every_keyword=True)
    }
    assert seen <= swept and () in swept  # every operating point, "none" included


def test_a_calibrated_sweep_counts_the_detectors_events_at_the_per_keyword_thresholds():
    rng = np.random.default_rng(1)
    yes, no = 0.6 * rng.random(200), 0.6 * rng.random(200)
    yes[30:34], no[120:123], yes[160:162] = 0.97, 0.9, 0.8
    track = track_of(yes, no)
    stream = Stream("s", Path("s.wav"), 21.0, (Keyword("yes", 3.5, 3.9), Keyword("no", 12.5, 12.8)))
    calibration = Calibration({"yes": 0.7, "no": -0.7})
    thresholds = [0.3, 0.6, 0.8, 0.9]
    det = sweep([track], [stream], thresholds, (ALL, "yes", "no"), 1.0, 1.0, 0.0, calibration)
    for row, reference in enumerate(thresholds):
        events = trigger(track, calibration.thresholds(reference), refractory_seconds=1.0)
        matching = match_events(events, stream.keywords, tolerance_seconds=1.0)
        assert det.hits[row, 0] == len(matching.hits)
        assert det.false_alarms[row, 0] == len(matching.false_alarms)
    assert det.false_alarms[0, 0] > det.false_alarms[-1, 0]  # the sweep does move


def test_eval_stream_calibrates_on_other_streams_and_writes_per_keyword_thresholds(tmp_path):
    # calibration streams: "high" sounds where it is not a keyword, "low" never does
    val = write_streams(
        tmp_path / "val",
        {"v": ([("high", 1.0, 1.5), ("low", 4.0, 4.5)], [("low", 4.0, 4.5)])},
        8.0,
    )
    test = write_streams(
        tmp_path / "test",
        {"a": ([("low", 1.0, 1.5), ("high", 4.0, 4.5)], [("low", 1.0, 1.5), ("high", 4.0, 4.5)])},
        8.0,
    )
    model = ToneSpotter()
    model.source = str(tmp_path / "run" / "kws.onnx")
    (tmp_path / "run").mkdir()
    metrics = evaluate_streams(model, test, calibration=val, calibration_rank=1)
    offsets = metrics["calibration"]["offsets"]
    assert offsets["high"] > 0 > offsets["low"]
    limits = metrics["keyword_thresholds"]
    assert set(limits) == {"low", "high"} and limits["high"] > limits["low"]
    sidecar = json.loads((tmp_path / "run" / "kws.detect.json").read_text())
    assert sidecar["threshold"] == limits and sidecar["calibration"]["streams"] == str(val)
    assert read_sidecar(tmp_path / "run" / "kws.detect.json")["threshold"] == limits
    # the peak scores are on the calibrated scale, where the reference threshold applies
    peaks = metrics["keyword_peaks"]
    assert (
        peaks["keywords"] == 2 and peaks["recall_ceiling"] >= metrics["at_threshold"][ALL]["recall"]
    )
    found = [(e.word, e.end) for e in detect(model, tmp_path / "test" / "streams" / "a.wav")]
    events = [json.loads(line) for line in (tmp_path / "run" / "stream_eval" / "events.jsonl")
              .read_text().splitlines()]  # fmt: skip
    assert found == [(e["word"], e["end"]) for e in events]  # detect() took the mapping
    with pytest.raises(ValueError, match="the calibration streams are the test streams"):
        evaluate_streams(model, test, calibration=test)
    copy = tmp_path / "copy.jsonl"  # another manifest of the same recordings
    copy.write_text((tmp_path / "test" / "streams.jsonl").read_text().replace(
        '"streams/', f'"{tmp_path}/test/streams/'))  # fmt: skip
    with pytest.raises(ValueError, match=r"copy\.jsonl: 1 of its streams are test streams"):
        evaluate_streams(model, test, calibration=copy)
