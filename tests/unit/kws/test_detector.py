"""seqrec.kws.detector: keyword events in a stream, from a classifier whose scores are
known (a tone spotter), and from a trained-model stand-in exported to ONNX."""

import io
import json
import logging

import numpy as np
import pytest
import soundfile as sf

from seqrec.core.audio_chunks import chunks_of_source
from seqrec.core.waveform import AudioError
from seqrec.kws.detector import (
    Event,
    StreamingDetector,
    detect,
    score_track,
    trigger,
)
from seqrec.kws.settings import SETTINGS, SIDECAR_CHECKS, DetectorSettings, sidecar_path
from tests.helpers import TONE_RATE as RATE
from tests.helpers import ToneSpotter
from tests.helpers import tone_stream as stream

BURSTS = [("low", 1.0, 1.5), ("high", 3.5, 4.0)]


def events_of(wave, chunk, **options):
    detector = StreamingDetector(ToneSpotter(), **options)
    events = []
    for i in range(0, wave.size, chunk):
        events += detector.feed(wave[i : i + chunk])
    return events + detector.finish()


def test_each_burst_is_one_event_of_its_word_soon_after_it_ends():
    events = events_of(stream(BURSTS), chunk=RATE, threshold=0.9)
    assert [e.word for e in events] == ["low", "high"]
    for event, (_, start, end) in zip(events, BURSTS, strict=True):
        assert event.start <= start and event.end >= end  # the window holds the word
        assert event.end - end <= 1.0  # detected within one window of its end
        assert event.score >= 0.9


@pytest.mark.parametrize("decision_seconds", [0.0, 0.3])
@pytest.mark.parametrize("chunk", [1, 37, 800, 48000])
def test_the_same_events_whatever_the_chunk_size(chunk, decision_seconds):
    """One sample at a time (a decision span then always runs across calls) to the
    whole stream at once."""
    wave = stream(BURSTS)
    options = {"threshold": 0.9, "decision_seconds": decision_seconds}
    events = events_of(wave, chunk, **options)
    assert events == events_of(wave, wave.size, **options)
    assert [e.word for e in events] == ["low", "high"]


def test_a_decision_span_names_the_word_that_follows_a_crossing():
    """A short "low" tone runs into a loud "high" one, as the start of "down" sounds
    like "go": at once, the crossing names "low" and the refractory period then hides
    "high"; waiting 0.5 s names "high", given 0.5 s after the crossing."""
    wave = stream([("low", 1.0, 1.2, 1.0), ("high", 1.2, 1.7, 1.0)])
    options = {"threshold": 0.5, "refractory_seconds": 2.0}
    (at_once,) = events_of(wave, 800, **options)
    (waited,) = events_of(wave, 800, **options, decision_seconds=0.5)
    assert at_once.word == "low" and at_once.time == at_once.end
    assert waited.word == "high" and waited.score > at_once.score
    assert waited.time == pytest.approx(at_once.end + 0.5)
    assert waited.end <= waited.time  # its best window ended within the span


def test_refractory_period_and_thresholds():
    wave = stream(BURSTS)
    once = events_of(wave, RATE, threshold=0.9, refractory_seconds=2.0)
    often = events_of(wave, RATE, threshold=0.9, refractory_seconds=0.0)
    assert len(once) == 2 and len(often) > 4  # a burst stays above threshold for windows
    assert {e.word for e in often} == {"low", "high"}
    only_high = events_of(wave, RATE, threshold={"high": 0.9})
    assert [e.word for e in only_high] == ["high"]
    assert events_of(wave, RATE, threshold=1.01) == []
    with pytest.raises(ValueError, match=r"words the model does not spot: \['_silence_'\]"):
        StreamingDetector(ToneSpotter(), threshold={"_silence_": 0.5})


def test_silence_is_never_an_event_and_memory_stays_bounded():
    detector = StreamingDetector(ToneSpotter(), threshold=0.0, batch_windows=4)
    quiet = stream([], seconds=30.0)
    events = []
    for i in range(0, quiet.size, 4000):
        events += detector.feed(quiet[i : i + 4000])
        assert detector.scorer.buffer.size <= detector.window + 4000
    assert events and all(e.word in ("low", "high") for e in events)  # threshold 0


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 0.9},
        {"threshold": 0.3, "refractory_seconds": 0.0},
        {"threshold": {"high": 0.5}, "refractory_seconds": 0.3},
        {"threshold": 0.0, "hop_seconds": 0.05, "smooth_windows": 1},
        {"threshold": 0.5, "decision_seconds": 0.4},
        {"threshold": 0.3, "refractory_seconds": 0.0, "decision_seconds": 0.2},
    ],
)
def test_the_track_and_trigger_give_the_detectors_events(options):
    """The model once over the stream (score_track), then the trigger rule at a
    threshold: the same events as the detector's, which classifies as it goes."""
    wave = stream(BURSTS)
    scoring = {k: options[k] for k in ("hop_seconds", "smooth_windows") if k in options}
    track = score_track(ToneSpotter(), np.array_split(wave, 13), batch_windows=5, **scoring)
    hop = options.get("hop_seconds", 0.1)
    assert track.smoothed.shape == (len(track.ends), 3)
    assert track.ends[0] == 1.0 and np.allclose(np.diff(track.ends), hop)
    assert track.ends[-1] >= wave.size / RATE  # a window ends at or after the last sample
    rule = (options.get("refractory_seconds", 1.0), options.get("decision_seconds", 0.0))
    events = trigger(track, options["threshold"], *rule)
    assert events == events_of(wave, 800, **options)
    assert len(events) >= 2


def test_threshold_none_reads_the_sidecar_beside_the_model(tmp_path):
    wave = stream(BURSTS)
    model = ToneSpotter()
    model.source = str(tmp_path / "best.ckpt")
    sidecar = tmp_path / "best.detect.json"
    assert sidecar_path(model.source) == sidecar
    sidecar.write_text(json.dumps({"threshold": 0.3, "refractory_seconds": 0.0, "recall": 0.9}))
    expected = events_of(wave, wave.size, threshold=0.3, refractory_seconds=0.0)
    assert list(detect(model, [wave])) == expected and len(expected) > 2
    assert list(model.detect([wave], threshold=0.9)) == events_of(wave, RATE, threshold=0.9,
                                                                   refractory_seconds=0.0)  # fmt: skip
    assert list(detect(model, [wave], refractory_seconds=2.0)) == events_of(
        wave, RATE, threshold=0.3, refractory_seconds=2.0
    )  # given arguments win over the sidecar's
    sidecar.write_text(json.dumps({"threshold": {"high": 0.9}, "hop_seconds": 0.2}))
    settings = DetectorSettings.for_model(model)
    assert settings.threshold == {"high": 0.9} and settings.hop_seconds == 0.2
    assert settings.smooth_windows == 3 and settings.sidecar == str(sidecar)
    assert DetectorSettings.for_model(model, threshold=0.7).sidecar == ""  # not the sidecar's
    assert [e.word for e in detect(model, [wave])] == ["high"]


def test_without_a_sidecar_the_threshold_is_half_and_the_log_says_so_once(tmp_path, caplog):
    wave = stream(BURSTS)
    model = ToneSpotter()
    model.source = str(tmp_path / "kws.onnx")
    with caplog.at_level(logging.WARNING, logger="seqrec.kws.settings"):
        first = list(detect(model, [wave]))
        second = list(detect(model, [wave]))
    assert first == second == events_of(wave, RATE, threshold=0.5)
    (record,) = caplog.records
    assert f"no detection sidecar {tmp_path / 'kws.detect.json'}" in record.getMessage()
    assert "threshold 0.5" in record.getMessage()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{oops", "not a readable JSON detection sidecar"),
        ("[0.5]", "expected a JSON object, got list"),
        ('{"hop_seconds": 0.1}', "no 'threshold'"),
        ('{"threshold": "high"}', r"'threshold' must be a number in \[0, 1\]"),
        ('{"threshold": -0.1}', r"'threshold' must be a number in \[0, 1\]"),
        ('{"threshold": 1.5}', r"'threshold' must be a number in \[0, 1\]"),
        ('{"threshold": {"high": true}}', r"'threshold' must be a number in \[0, 1\]"),
        ('{"threshold": {}}', "'threshold' must be .* a non-empty object word -> number"),
        ('{"threshold": {"high": 2}}', r"'threshold' must be .*object word -> number in \[0, 1\]"),
        ('{"threshold": 0.5, "hop_seconds": 0}', r"'hop_seconds' must be a number in \(0, 60\]"),
        ('{"threshold": 0.5, "window_seconds": 1e6}', "'window_seconds' must be a number in"),
        ('{"threshold": 0.5, "decision_seconds": -1}', "'decision_seconds' must be a number in"),
        ('{"threshold": 0.5, "treshold": 0.9}', "unknown key 'treshold'; a detection sidecar"),
        ('{"threshold": 0.5, "recall": "all"}', r"'recall' must be a number in \[0, 1\], or null"),
        ('{"threshold": 0.5, "streams": 3}', "'streams' must be a string"),
        ('{"threshold": 0.5, "calibration": {"offsets": {"high": "x"}}}', "'calibration' must"),
        ('{"threshold": 0.5, "calibration": {"lm": "x.txt"}}', "'calibration' must be null"),
        (
            '{"threshold": 0.5, "smooth_windows": 1.5}',
            "'smooth_windows' must be a positive integer",
        ),
        ('{"threshold": 0.5, "refractory_seconds": null}', "'refractory_seconds' must be"),
        ('{"threshold": {"yes": 0.5}}', r"thresholds for words the model does not spot: \['yes'\]"),
    ],
)
def test_a_bad_sidecar_is_a_clear_error_naming_it(tmp_path, content, problem):
    model = ToneSpotter()
    model.source = str(tmp_path / "kws.ckpt")
    (tmp_path / "kws.detect.json").write_text(content)
    with pytest.raises(ValueError, match=rf"kws\.detect\.json: .*{problem}"):
        StreamingDetector(model)


def test_sources_a_file_raw_pcm_and_chunks(tmp_path):
    wave = stream(BURSTS)
    path = tmp_path / "long.wav"
    sf.write(path, wave, RATE, subtype="PCM_16")
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
    from_file = list(detect(ToneSpotter(), path, threshold=0.9))
    from_pcm = list(detect(ToneSpotter(), io.BytesIO(pcm), threshold=0.9))
    from_chunks = list(detect(ToneSpotter(), np.array_split(wave, 7), threshold=0.9))
    assert [e.word for e in from_file] == [e.word for e in from_pcm] == ["low", "high"]
    assert [(e.word, e.start, e.end) for e in from_chunks] == [
        (e.word, e.start, e.end) for e in from_file
    ]
    assert list(ToneSpotter().detect(path, threshold=0.9)) == from_file  # the model's method
    samples = np.concatenate(list(chunks_of_source(io.BytesIO(pcm[:-1]), RATE)))
    assert samples.size == wave.size - 1  # a trailing odd byte is no sample
    assert np.abs(samples - wave[:-1]).max() < 1e-4


def test_raw_pcm_formats_a_torn_sample_and_a_format_it_does_not_take(caplog):
    wave = stream(BURSTS)
    as_float = list(detect(ToneSpotter(), io.BytesIO(wave.astype("<f4").tobytes()),
                           pcm="f32le", threshold=0.9))  # fmt: skip
    assert [(e.word, e.end) for e in as_float] == [
        (e.word, e.end) for e in detect(ToneSpotter(), [wave], threshold=0.9)
    ]
    with caplog.at_level("WARNING", logger="seqrec.core.audio_chunks"):
        chunks = list(
            chunks_of_source(io.BytesIO(wave.astype("<f4").tobytes()[:-3]), RATE, "f32le")
        )
    assert sum(c.size for c in chunks) == wave.size - 1
    assert "ended 1 byte(s) into a f32le sample" in caplog.text
    with pytest.raises(ValueError, match=r"raw PCM format 's24le' is not one the detector reads"):
        list(detect(ToneSpotter(), io.BytesIO(b"\0" * 30), pcm="s24le"))


def test_a_nan_sample_is_an_error_naming_where_it_lies_from_every_source(tmp_path):
    """One NaN would make every window that holds it score nan, so that no event fires
    for about a window and a smoothing span: from a file, raw f32le PCM, chunks or
    fed samples, it is an error naming the file or stream and the sample (and byte)."""
    wave = stream(BURSTS)
    wave[20_000] = np.nan  # 2.5 s in
    path = tmp_path / "nan.wav"
    sf.write(path, wave, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio contains NaN .* at sample 20000\)"):
        list(detect(ToneSpotter(), path, threshold=0.9))
    raw = io.BytesIO(wave.astype("<f4").tobytes())
    with pytest.raises(
        AudioError, match=r"raw stream: .*\(the first, nan, at sample 20000, byte 80000\)"
    ):
        list(detect(ToneSpotter(), raw, pcm="f32le", threshold=0.9))
    with pytest.raises(AudioError, match=r"audio stream: .*\(the first, nan, at sample 20000\)"):
        list(detect(ToneSpotter(), np.array_split(wave, 7), threshold=0.9))
    wave[20_000] = -np.inf
    detector = StreamingDetector(ToneSpotter(), threshold=0.9)
    detector.feed(wave[:15_000])
    with pytest.raises(AudioError, match=r"\(the first, -inf, at sample 20000\)"):
        detector.feed(wave[15_000:])


def test_a_model_that_is_not_an_audio_classifier_is_refused():
    class Transcriber:  # audio in, text out: no labels to spot
        modality = "audio"
        sample_rate = RATE
        source = "asr.ckpt"

    class Video(ToneSpotter):
        modality = "video"

    for model in (Video(), Transcriber()):
        with pytest.raises(TypeError, match=r": detect\(\) needs an audio classifier"):
            list(detect(model, [np.zeros(RATE, np.float32)]))


def test_a_file_at_another_rate_or_missing_is_a_clear_error(tmp_path):
    sf.write(tmp_path / "16k.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match=r"16k\.wav: 16000 Hz, and this model listens at 8000"):
        list(detect(ToneSpotter(), tmp_path / "16k.wav"))
    with pytest.raises(AudioError, match=r"gone\.wav: file not found"):
        list(detect(ToneSpotter(), tmp_path / "gone.wav"))


def test_event_as_dict_rounds_times():
    event = Event("yes", 1.23456, 2.34567, 0.9876543)
    rounded = {"word": "yes", "start": 1.235, "end": 2.346, "score": 0.987654}
    assert event.as_dict() == {**rounded, "decided": 2.346}  # given when its window ended
    later = Event("yes", 1.23456, 2.34567, 0.9876543, decided=2.64567)
    assert later.as_dict() == {**rounded, "decided": 2.646}


def test_a_checkpoint_and_its_export_detect_the_same_events(tmp_path):
    """A KWS model (random weights, built as the tests of the export build one):
    seqrec.load on the checkpoint and on its ONNX file, and seqrec-detect, give the
    same events on a long file."""
    import seqrec
    from seqrec.export import export_onnx
    from tests.helpers import run_cli, synthetic_waves, write_checkpoint

    ckpt = write_checkpoint(tmp_path / "kws.ckpt", "kws_gru_mean")
    loaded = seqrec.load(ckpt)
    onnx_file = export_onnx(loaded, tmp_path / "kws.onnx")
    long = np.concatenate(synthetic_waves(seconds=(1.0, 0.3, 2.2, 0.5, 1.5), seed=2))
    path = tmp_path / "long.wav"
    sf.write(path, long, 16000)
    options = {"threshold": 0.0, "refractory_seconds": 0.5}  # an event every 0.5 s
    expected = [e.as_dict() for e in loaded.detect(path, **options)]
    assert len(expected) >= 8 and all(e["word"] in loaded.labels for e in expected)
    assert_same_events(
        [e.as_dict() for e in seqrec.load(onnx_file).detect(path, **options)], expected
    )
    wrong = run_cli("seqrec-detect", f"ckpt_path={onnx_file}", "input=gone.wav", check=False)
    assert wrong.returncode != 0 and "gone.wav: file not found" in wrong.stderr + wrong.stdout
    assert "no detection sidecar" in wrong.stderr and not wrong.stdout  # stdout: events only
    # threshold and refractory period from the sidecar that seqrec-eval-stream writes
    (tmp_path / "kws.detect.json").write_text('{"threshold": 0.0, "refractory_seconds": 0.5}')
    result = run_cli("seqrec-detect", f"ckpt_path={onnx_file}", f"input={path}")
    assert_same_events([json.loads(line) for line in result.stdout.splitlines()], expected)


def assert_same_events(got: list[dict], expected: list[dict]) -> None:
    """The same words at the same times; scores equal to float rounding (PyTorch and
    ONNX Runtime compute them in different orders)."""
    assert [{**e, "score": None} for e in got] == [{**e, "score": None} for e in expected]
    np.testing.assert_allclose([e["score"] for e in got], [e["score"] for e in expected], atol=1e-5)


def test_the_detector_settings_are_declared_once():
    """The dataclass names them; the sidecar's schema, the detector's and
    seqrec-detect's arguments, and seqrec-eval-stream's options follow it."""
    import inspect

    from seqrec.cli.eval_stream import OPTIONS, WINDOWING

    assert list(SIDECAR_CHECKS) == list(SETTINGS)
    parameters = inspect.signature(StreamingDetector).parameters
    assert [p for p in parameters if p in SETTINGS] == list(SETTINGS)
    assert set(SETTINGS) - set(WINDOWING) == {"threshold"} and not set(SETTINGS) & set(OPTIONS)
    assert DetectorSettings().windowing() == {
        "hop_seconds": 0.1, "window_seconds": None, "smooth_windows": 3,
        "refractory_seconds": 1.0, "decision_seconds": 0.0,
    }  # fmt: skip
    with pytest.raises(TypeError, match="unknown detector settings"):
        DetectorSettings.for_model(object(), hop=0.2)
