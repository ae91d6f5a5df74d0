"""seqrec.kws.evaluate and seqrec-eval-stream: hits and false alarms counted on
hand-made events, the threshold sweep against the detector's own events, the whole
evaluation on two tiny streams of a tone spotter, and clear manifest errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hydra import compose, initialize_config_dir

from seqrec.config import conf_dir
from seqrec.kws.det import (
    ALL,
    Det,
    candidate_thresholds,
    latency_stats,
    match_events,
    sweep,
    sweep_thresholds,
)
from seqrec.kws.detector import Event, Track, detect, score_track, trigger
from seqrec.kws.evaluate import (
    evaluate_streams,
    keyword_peaks,
    keyword_rivals,
    keyword_snr_db,
    peak_summary,
    recall_breakdown,
)
from seqrec.kws.streams_manifest import (
    CONTEXTS,
    Keyword,
    Speech,
    Stream,
    StreamManifestError,
    read_streams,
)
from tests.helpers import TONE_RATE as RATE
from tests.helpers import ToneSpotter
from tests.helpers import write_tone_streams as write_streams

KEYWORDS = (
    Keyword("yes", 1.0, 1.5),
    Keyword("no", 4.0, 4.4),
    Keyword("yes", 8.0, 8.5),
    Keyword("up", 12.0, 12.3),
)
EVENTS = (
    Event("yes", 0.8, 1.8, 0.9),  # hit, 0.3 s after the word
    Event("yes", 1.2, 2.2, 0.9),  # the same word again: a false alarm
    Event("no", 4.5, 5.5, 0.9),  # 0.1 s past the tolerance: a false alarm, and "no" missed
    Event("up", 8.0, 9.0, 0.9),  # the wrong word: a false alarm
    Event("yes", 8.5, 9.5, 0.9),  # hit right at the tolerance's edge (8.5 + 1.0)
    Event("up", 11.0, 12.0, 0.9),  # hit right at the word's start
)


def test_hits_false_alarms_and_latencies_of_hand_made_events():
    shuffled = [EVENTS[i] for i in (3, 0, 5, 2, 4, 1)]  # the order given does not matter
    matching = match_events(shuffled, KEYWORDS, tolerance_seconds=1.0)
    assert [(k.word, k.start, e.end) for k, e in matching.hits] == [
        ("yes", 1.0, 1.8), ("yes", 8.0, 9.5), ("up", 12.0, 12.0),
    ]  # fmt: skip
    assert sorted(e.end for e in matching.false_alarms) == [2.2, 5.5, 9.0]
    assert matching.misses == [Keyword("no", 4.0, 4.4)]
    assert np.allclose(matching.latencies, [0.3, 1.0, -0.3])
    assert latency_stats(matching.latencies) == pytest.approx(
        {"latency_median": 0.3, "latency_p90": 0.86}  # p90 of (-0.3, 0.3, 1.0): 0.3 + 0.8 * 0.7
    )
    tight = match_events(EVENTS, KEYWORDS, tolerance_seconds=0.5)  # the edge hit is now too late
    assert len(tight.hits) == 2 and len(tight.false_alarms) == 4 and len(tight.misses) == 2


def test_sweep_counts_the_events_of_a_hand_made_track():
    """A track whose windows fire exactly the hand-made events: the sweep's counts
    per keyword and overall, and false alarms per hour of the stream."""
    labels = ("_silence_", "yes", "no", "up")
    ends = np.array([round(e.end * 10) for e in EVENTS])  # rate 10: 0.1 s a sample
    smoothed = np.zeros((len(EVENTS), len(labels)))
    for row, event in enumerate(EVENTS):
        smoothed[row, labels.index(event.word)] = 0.9
        smoothed[row, 0] = 0.95  # silence scores higher, and never fires
    track = Track(labels, 10, 10, ends, smoothed)
    assert [(e.word, e.end) for e in trigger(track, 0.5, refractory_seconds=0.0)] == [
        (e.word, e.end) for e in EVENTS
    ]
    stream = Stream("s", Path("unused.wav"), 36.0, KEYWORDS)  # 36 s: 0.01 h
    columns = (ALL, "yes", "no", "up")
    det = sweep([track], [stream], [0.5, 0.95], columns, 0.0, 1.0)
    assert det.keywords.tolist() == [4, 2, 1, 1]
    assert det.hits.tolist() == [[3, 2, 0, 1], [0, 0, 0, 0]]
    assert det.false_alarms.tolist() == [[3, 1, 1, 1], [0, 0, 0, 0]]
    assert det.fa_per_hour[0].tolist() == pytest.approx([300.0, 100.0, 100.0, 100.0])
    assert det.recall[0].tolist() == pytest.approx([0.75, 1.0, 0.0, 1.0])


def test_recall_at_a_false_alarm_rate_and_the_lowest_threshold_meeting_it():
    """Two hours of audio; ten keywords "a" (no "b"): recall at N FA/h is the best
    recall among the thresholds that keep to N FA/h, not the recall at the lowest."""
    thresholds = np.array([0.1, 0.3, 0.5, 0.7, 0.9, 1.1])
    a_hits = np.array([10, 9, 8, 6, 7, 0])
    a_false = np.array([12, 5, 2, 1, 1, 0])  # a's FA/h: 6, 2.5, 1, 0.5, 0.5, 0
    b_false = np.array([8, 4, 1, 1, 0, 0])
    det = Det(
        thresholds,
        (ALL, "a", "b"),
        np.array([10, 10, 0]),
        np.stack([a_hits, a_hits, 0 * a_hits], axis=1),
        np.stack([a_false + b_false, a_false, b_false], axis=1),
        hours=2.0,
    )  # overall FA/h: 10, 4.5, 1.5, 1, 0.5, 0
    assert det.lowest_meeting(1.0) == 3 and det.lowest_meeting(5.0) == 1
    assert det.lowest_meeting(0.1) == 5  # only the threshold above every score
    assert det.recall_at(0.5) == {ALL: 0.7, "a": 0.7, "b": None}  # 0.9, not 0.7's 0.6
    assert det.recall_at(1.0) == {ALL: 0.7, "a": 0.8, "b": None}  # a alone: 1 FA/h at 0.5
    assert det.recall_at(5.0) == {ALL: 0.9, "a": 0.9, "b": None}


def tone_streams(tmp_path):
    """Two 6 s streams. a: "low" and "high" bursts, both marked. b: a marked "high"
    burst, a quiet "high" burst (amplitude 0.1) that is not a keyword, and a "low"
    keyword marked where nothing sounds (always missed)."""
    return write_streams(
        tmp_path,
        {
            "a": ([("low", 1.0, 1.5), ("high", 3.5, 4.0)], [("low", 1.0, 1.5), ("high", 3.5, 4.0)]),
            "b": (
                [("high", 1.0, 1.5), ("high", 3.5, 4.0, 0.1)],
                [("high", 1.0, 1.5), ("low", 4.5, 5.0)],
            ),
        },
    )


@pytest.mark.parametrize("decision_seconds", [0.0, 0.3])
def test_the_sweep_at_a_threshold_is_what_detect_gives(tmp_path, decision_seconds):
    manifest = tone_streams(tmp_path)
    model = ToneSpotter()
    options = {"hop_seconds": 0.1, "smooth_windows": 3, "refractory_seconds": 0.5,
               "decision_seconds": decision_seconds}  # fmt: skip
    streams = read_streams(manifest, model.labels, RATE)
    tracks = [score_track(model, s.path, 0.1, None, 3) for s in streams]
    candidates = candidate_thresholds(tracks)
    assert candidates[0] == 0.0  # the grid's
    assert candidates[-1] > max(t.smoothed[:, 1:].max() for t in tracks)  # no events
    thresholds = [0.0, 0.3, float(np.median(candidates)), 0.6, 0.9, 0.95]
    det = sweep(tracks, streams, thresholds, (ALL, "low", "high"), 0.5, 1.0, decision_seconds)
    for row, threshold in enumerate(thresholds):
        hits = false_alarms = 0
        for stream, track in zip(streams, tracks, strict=True):
            found = list(detect(model, stream.path, threshold=threshold, **options))
            assert trigger(track, threshold, 0.5, decision_seconds) == found
            matching = match_events(found, stream.keywords)
            hits, false_alarms = (
                hits + len(matching.hits),
                false_alarms + len(matching.false_alarms),
            )
        assert (det.hits[row, 0], det.false_alarms[row, 0]) == (hits, false_alarms), threshold
    assert det.hits[-1, 0] == det.false_alarms[-1, 0] == 0  # above their peaks (0.94)
    if decision_seconds:
        # at 0.9 the three loud bursts, once each: after the span and the 0.5 s
        # refractory period their windows are below 0.9
        assert (det.hits[-2, 0], det.false_alarms[-2, 0]) == (3, 0)
        return
    assert det.false_alarms[0, 0] > 0 and det.hits[0, 0] == 4  # at 0: everything fires
    # at 0.9: the three loud bursts, each again 0.5 s later (the refractory period is
    # shorter than the time a burst's window stays above 0.9)
    assert (det.hits[-2, 0], det.false_alarms[-2, 0]) == (3, 3)


def test_keyword_peaks_bound_the_recall_at_every_threshold(tmp_path):
    """A keyword whose own word never scores the threshold near it cannot be hit: the
    share of peaks at or above a threshold is at least the recall there."""
    model = ToneSpotter()
    streams = read_streams(tone_streams(tmp_path), model.labels, RATE)
    tracks = [score_track(model, s.path, 0.1, None, 3) for s in streams]
    peaks = keyword_peaks(tracks, streams, 1.0)
    assert peaks.shape == (4,)
    assert min(peaks[:3]) > 0.9 and peaks[3] < 0.5  # the "low" marked where nothing sounds
    thresholds = candidate_thresholds(tracks)
    det = sweep(tracks, streams, thresholds, (ALL, "low", "high"), 0.5, 1.0)
    ceiling = (peaks[None, :] >= thresholds[:, None]).sum(axis=1)
    assert np.all(det.hits[:, 0] <= ceiling)
    assert np.any(det.hits[:, 0] == ceiling) and np.any(det.hits[:, 0] < ceiling)
    summary = peak_summary(peaks, 0.9, keyword_rivals(tracks, streams, 1.0))
    assert summary["below_threshold"] == 1 and summary["recall_ceiling"] == 0.75
    assert summary["below_by_rival"] == {"_silence_": 1}  # nothing sounds: silence wins
    assert summary["below_outscored"] == 1  # and scores above "low" there


def test_a_capped_sweep_refines_to_the_same_operating_points(tmp_path):
    """With fewer thresholds than scores, the sweep spreads them out, then tries every
    score just below the lowest threshold that meets each target: the same thresholds
    as the full sweep, and the same counts wherever both swept."""
    streams = read_streams(tone_streams(tmp_path), ToneSpotter.labels, RATE)
    tracks = [score_track(ToneSpotter(), s.path) for s in streams]
    settings = (tracks, streams, (ALL, "low", "high"), 1.0, 1.0, (1.0, 300.0, 1000.0))
    full = sweep_thresholds(*settings, max_thresholds=10**6)
    capped = sweep_thresholds(*settings, max_thresholds=110)
    assert len(full.thresholds) == len(candidate_thresholds(tracks)) > len(capped.thresholds)
    for target in (1.0, 300.0, 1000.0):
        lowest = full.thresholds[full.lowest_meeting(target)]
        assert capped.thresholds[capped.lowest_meeting(target)] == lowest
    rows = np.searchsorted(full.thresholds, capped.thresholds)
    assert (full.thresholds[rows] == capped.thresholds).all()
    assert (full.hits[rows] == capped.hits).all()
    assert (full.false_alarms[rows] == capped.false_alarms).all()


def test_evaluate_streams_end_to_end(tmp_path):
    manifest = tone_streams(tmp_path)
    model = ToneSpotter()
    (tmp_path / "run").mkdir()
    model.source = str(tmp_path / "run" / "kws.ckpt")  # the sidecar goes beside it
    metrics = evaluate_streams(model, manifest, out=tmp_path / "eval")
    out = tmp_path / "eval"
    # By hand: 12 s of audio, so one false alarm is 300 FA/h and recall at 0.5, 1 and 5
    # FA/h is that of a threshold with none; there, the silent "low" is missed and the
    # three loud bursts are hit (1 of 2 "low", 2 of 2 "high").
    assert metrics["hours"] == pytest.approx(12 / 3600, abs=1e-6)
    for target in ("0.5", "1", "5"):
        assert metrics["recall_at_fa_per_hour"][target] == {ALL: 0.75, "low": 0.5, "high": 1.0}
    point = metrics["at_threshold"]
    assert {k: point[ALL][k] for k in ("keywords", "hits", "misses", "false_alarms")} == {
        "keywords": 4, "hits": 3, "misses": 1, "false_alarms": 0,
    }  # fmt: skip
    assert point["low"]["keywords"] == 2 and point["high"]["hits"] == 2
    rows = (out / "det.csv").read_text().splitlines()
    assert rows[0] == "threshold,keyword,miss_rate,fa_per_hour,recall,hits,false_alarms"
    assert len(rows) == 1 + 3 * metrics["thresholds_swept"]
    overall = [row.split(",") for row in rows[1:] if row.split(",")[1] == ALL]
    threshold = metrics["threshold"]
    below = [int(r[6]) for r in overall if float(r[0]) < threshold]
    assert below and min(below) > 0  # every lower threshold false-alarms: it is the lowest
    (chosen,) = [r for r in overall if float(r[0]) == threshold]
    assert chosen[2:] == ["0.250000", "0", "0.750000", "3", "0"]
    assert (out / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "stream_metrics.json").read_text()) == metrics
    # the sidecar, beside the model and in the output folder
    sidecar = json.loads((tmp_path / "run" / "kws.detect.json").read_text())
    assert sidecar == json.loads((out / "kws.detect.json").read_text())
    assert sidecar["threshold"] == threshold and sidecar["recall"] == 0.75
    assert {k: sidecar[k] for k in ("hop_seconds", "window_seconds", "smooth_windows")} == {
        "hop_seconds": 0.1, "window_seconds": 1.0, "smooth_windows": 3,
    }  # fmt: skip
    assert sidecar["fa_per_hour_target"] == 1.0 and sidecar["streams"] == str(manifest)
    # events.jsonl at the threshold; and detect() takes the sidecar's threshold by default
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [(e["stream"], e["word"], e["hit"]) for e in events] == [
        ("a", "low", True), ("a", "high", True), ("b", "high", True),
    ]  # fmt: skip
    latencies = sorted(e["latency"] for e in events)
    assert point[ALL]["latency_median"] == pytest.approx(latencies[1], abs=1e-3)
    by_default = [e.as_dict() for e in detect(model, tmp_path / "streams" / "a.wav")]
    assert by_default == [
        {k: e[k] for k in ("word", "start", "end", "score", "decided")} for e in events[:2]
    ]
    # an explicit threshold wins over the sidecar's: at 0 every refractory period ends in an event
    b = tmp_path / "streams" / "b.wav"
    assert len(list(model.detect(b, threshold=0.0))) > len(list(model.detect(b))) == 1


def test_default_output_folder_and_no_sidecar_without_write_default(tmp_path):
    manifest = write_streams(tmp_path, {"a": ([("low", 1.0, 1.5)], [("low", 1.0, 1.5)])}, 3.0)
    model = ToneSpotter()
    model.source = str(tmp_path / "best.onnx")
    metrics = evaluate_streams(model, manifest, write_default=False, fa_per_hour=2.0)
    assert metrics["out"] == str(tmp_path / "stream_eval") and metrics["sidecar"] is None
    assert (tmp_path / "stream_eval" / "best.detect.json").is_file()
    assert not (tmp_path / "best.detect.json").exists()
    assert set(metrics["recall_at_fa_per_hour"]) == {"0.5", "1", "2", "5"}
    with pytest.raises(ValueError, match="fa_per_hour must be > 0"):
        evaluate_streams(model, manifest, fa_per_hour=0.0)


def test_the_command_prints_a_table_and_refuses_what_it_cannot_score(tmp_path, monkeypatch, capsys):
    from seqrec.cli import eval_stream

    manifest = tone_streams(tmp_path)
    model = ToneSpotter()
    model.kind = "classifier"
    model.source = str(tmp_path / "kws.onnx")
    monkeypatch.setattr(eval_stream, "load_model", lambda cfg: model)
    with initialize_config_dir(conf_dir(), version_base="1.3"):
        cfg = compose("eval_stream", [f"ckpt_path={model.source}", f"streams={manifest}"])
        bad = compose("eval_stream", [f"ckpt_path={model.source}", f"streams={tmp_path}/x.jsonl"])
    metrics = eval_stream.eval_stream(cfg)
    printed = capsys.readouterr().out
    assert metrics["out"] == str(tmp_path / "stream_eval")
    (overall,) = [line.split() for line in printed.splitlines() if line.startswith("all ")]
    assert overall[:8] == ["all", "4", "3", "0", "0.750", "0.750", "0.750", "0.750"]
    assert f"wrote {tmp_path / 'kws.detect.json'}" in printed
    with pytest.raises(SystemExit, match=r"x\.jsonl: streams manifest not found"):
        eval_stream.eval_stream(bad)
    model.kind = "transcriber"
    with pytest.raises(SystemExit, match="needs a voice-commands classifier"):
        eval_stream.eval_stream(cfg)


GOOD = {"audio_filepath": "s.wav", "duration": 3.0, "id": "s", "keywords": []}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object, got list"),
        ({"audio_filepath": "s.wav", "keywords": []}, "missing field 'duration'"),
        ({**GOOD, "duration": -1}, "'duration' must be a positive number"),
        ({**GOOD, "keywords": [{"word": "yes", "start": 1, "end": 2}]},
         r"keywords\[0\]: 'yes' is not a keyword of the model \(\['high', 'low'\]\)"),
        ({**GOOD, "keywords": [{"word": "_silence_", "start": 1, "end": 2}]},
         r"keywords\[0\]: '_silence_' is not a keyword"),
        ({**GOOD, "keywords": [{"word": "low", "start": 2, "end": 1}]},
         r"keywords\[0\]: start 2 and end 1 must be 0 <= start < end <= duration"),
        ({**GOOD, "keywords": [{"word": "low", "start": 2, "end": 3.5}]},
         r"keywords\[0\]: start 2 and end 3.5 must be"),
        ({**GOOD, "keywords": [{"word": "low", "start": 1.0, "end": 1.6},
                               {"word": "high", "start": 1.5, "end": 2.0}]},
         r"keywords\[1\] \(high at 1.5\) starts before keywords\[0\] ends \(1.6\)"),
        ({**GOOD, "keywords": [{"word": "low", "start": 2.0, "end": 2.5},
                               {"word": "high", "start": 1.0, "end": 1.5}]},
         r"keywords\[1\] \(high at 1.0\) starts before .* must be sorted"),
        ({**GOOD, "keywords": [{"word": "low"}]},
         r"keywords\[0\] must be an object with word, start and end"),
        ({**GOOD, "audio_filepath": "gone.wav"}, r"audio .*gone\.wav not found"),
        ({**GOOD, "audio_filepath": "16k.wav"}, r"\S*16k\.wav is at 16000 Hz, and the model listens at 8000 Hz"),
        ({**GOOD, "duration": 2.0}, r"'duration' is 2.0 s, but .*s\.wav lasts 3.000 s"),
        ({**GOOD, "id": "first"}, "id 'first' appears twice"),
        ({**GOOD, "id": 5}, "'id' must be a string, got 5"),
        ({**GOOD, "speech": [{"start": 1, "end": 2, "text": 7}]},
         r"speech\[0\] must be an object with start < end \(seconds\) and a text string"),
        # Python's json reads NaN and Infinity (and 1e999 as Infinity), in any field
        ({**GOOD, "gain": float("nan")}, "gain is NaN; every number must be finite"),
        ('{"audio_filepath": "s.wav", "duration": 3.0, "keywords": [], "snr": [1, 1e999]}',
         r"snr\[1\] is Infinity; every number must be finite"),
        ({**GOOD, "keywords": [{"word": "low", "start": float("-inf"), "end": 1}]},
         r"keywords\[0\].start is -Infinity; every number must be finite"),
    ],
)  # fmt: skip
def test_manifest_errors_name_the_file_and_line(tmp_path, line, problem):
    sf.write(tmp_path / "s.wav", np.zeros(3 * RATE, np.float32), RATE)
    sf.write(tmp_path / "16k.wav", np.zeros(3 * 16000, np.float32), 16000)
    first = {**GOOD, "id": "first"}
    text = line if isinstance(line, str) else json.dumps(line)
    manifest = tmp_path / "streams.jsonl"
    manifest.write_text(json.dumps(first) + "\n" + text + "\n")
    with pytest.raises(StreamManifestError, match=rf"streams\.jsonl:2: {problem}"):
        read_streams(manifest, ToneSpotter.labels, RATE)


def test_a_manifest_line_that_is_not_utf8_names_its_line(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(3 * RATE, np.float32), RATE)
    manifest = tmp_path / "streams.jsonl"
    bad = b'{"audio_filepath": "s.wav", "duration": 3.0, "keywords": [], "id": "\xff"}'
    manifest.write_bytes(json.dumps(GOOD).encode() + b"\n" + bad + b"\n")
    with pytest.raises(
        StreamManifestError, match=r"streams\.jsonl:2: not UTF-8 text \(byte 0xff at column 69\)$"
    ):
        read_streams(manifest, ToneSpotter.labels, RATE)


def test_a_good_manifest_and_an_empty_one(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(3 * RATE, np.float32), RATE)
    manifest = tmp_path / "streams.jsonl"
    keywords = [
        {"word": "low", "start": 0.5, "end": 1.0},
        {"word": "high", "start": 1.0, "end": 1.2},
    ]
    manifest.write_text(json.dumps({**GOOD, "keywords": keywords, "speech": []}) + "\n\n")
    (stream,) = read_streams(manifest, ToneSpotter.labels, RATE)
    assert stream.id == "s" and stream.duration == 3.0 and stream.path == tmp_path / "s.wav"
    assert stream.keywords == (Keyword("low", 0.5, 1.0), Keyword("high", 1.0, 1.2))
    manifest.write_text("\n")
    with pytest.raises(StreamManifestError, match=r"streams\.jsonl: no streams"):
        read_streams(manifest)


def test_false_alarms_are_counted_by_what_their_window_overlaps(tmp_path):
    manifest = tone_streams(tmp_path)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[1]["speech"] = [{"start": 3.5, "end": 4.0, "text": "a quiet tone"}]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    streams = read_streams(manifest, ToneSpotter.labels, RATE)
    assert streams[1].speech == (Speech(3.5, 4.0, "a quiet tone"),)
    metrics = evaluate_streams(ToneSpotter(), manifest, tmp_path / "out", fa_per_hour=5000.0,
                               write_default=False)  # fmt: skip
    by_context = metrics["false_alarms_by_context"]
    assert sum(by_context.values()) == metrics["at_threshold"][ALL]["false_alarms"] > 0
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").open()]
    contexts = [e["context"] for e in events if not e["hit"]]
    assert {c: contexts.count(c) for c in CONTEXTS} == by_context
    bad = {**rows[0], "speech": [{"start": 2.0, "end": 1.0}]}
    manifest.write_text(json.dumps(bad) + "\n")
    with pytest.raises(
        StreamManifestError, match=r"speech\[0\] must be an object with start < end"
    ):
        read_streams(manifest, ToneSpotter.labels, RATE)


def test_the_recall_breakdown_measures_each_keywords_length_and_snr(tmp_path):
    """Keywords of known lengths at known levels over white noise at -40 dB of full
    scale: the SNR measured in the stream is the one mixed, and each keyword's hit or
    miss lands in its length and SNR bins; one too early for its noise is unmeasured."""
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(14 * RATE) * 0.01  # RMS -40 dBFS
    keywords = (Keyword("yes", 0.5, 0.9), Keyword("no", 4.0, 4.2), Keyword("yes", 8.0, 8.6),
                Keyword("up", 12.0, 12.3))  # fmt: skip
    for keyword, snr in zip(keywords, (20.0, 5.0, 30.0, 14.0), strict=True):
        a, b = round(keyword.start * RATE), round(keyword.end * RATE)
        tone = np.sin(2 * np.pi * 500 * np.arange(b - a) / RATE) * np.sqrt(2)  # RMS 1
        audio[a:b] += tone * np.sqrt(10 ** (snr / 10) - 1) * 0.01  # word + noise at `snr`
    path = tmp_path / "s.wav"
    sf.write(path, audio, RATE, subtype="FLOAT")
    with sf.SoundFile(path) as f:
        snrs = [keyword_snr_db(f, k.start, k.end) for k in keywords]
    assert snrs[0] is None  # 0.5 s in: no 0.7 s of noise 0.2 s before it
    assert snrs[1:] == pytest.approx([5.0, 30.0, 14.0], abs=0.5)
    stream = Stream("s", path, 14.0, keywords)
    hit = Event("no", 3.5, 4.5, 0.9)
    breakdown = recall_breakdown([stream], [match_events([hit], keywords, 1.0)])
    assert breakdown["snr_db"] == {
        "<8 dB": {"keywords": 1, "recall": 1.0},
        "12-16 dB": {"keywords": 1, "recall": 0.0},
        ">=25 dB": {"keywords": 1, "recall": 0.0},
        "unmeasured": {"keywords": 1, "recall": 0.0},
    }
    assert breakdown["length_seconds"] == {
        "0-0.25s": {"keywords": 1, "recall": 1.0},
        "0.25-0.35s": {"keywords": 1, "recall": 0.0},
        "0.35-0.5s": {"keywords": 1, "recall": 0.0},
        ">=0.5s": {"keywords": 1, "recall": 0.0},
    }
