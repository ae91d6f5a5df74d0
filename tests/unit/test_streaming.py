"""seqrec.streaming: keyword events in a stream, from a classifier whose scores are
known (a tone spotter), and from a trained-model stand-in exported to ONNX."""

import io

import numpy as np
import pytest
import soundfile as sf

from seqrec import results
from seqrec.streaming import Event, StreamingDetector, chunks_of_source, detect
from seqrec.waveform import AudioError

RATE = 8000
TONES = {"low": 300.0, "high": 1200.0}


class ToneSpotter(results.Classifies):
    """An audio classifier whose posterior for a word grows with the energy of the
    word's tone in the window: it is certain when half a second of it is there."""

    modality = "audio"
    sample_rate = RATE
    labels = ("_silence_", "low", "high")
    source = "tone spotter"

    def prepare(self, item):
        return [np.asarray(item, dtype=np.float32)]

    def classify_clips(self, items, names, top_k=5, batch_size=32):
        t = np.arange(RATE) / RATE
        logits = []
        for (window,) in items:
            energy = [
                abs(window @ np.exp(2j * np.pi * f * t[: window.size])) / (0.25 * RATE)
                for f in TONES.values()
            ]  # about 1 per half second of a 0.5-amplitude tone
            logits.append([1.0, *(8.0 * min(e, 1.0) for e in energy)])
        logits = np.array(logits)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        return results.top_predictions(probs, self.labels, names, top_k)


def stream(bursts, seconds=6.0, seed=0):
    """Quiet noise with 0.5-amplitude tone bursts: (word, start, end) in seconds."""
    rng = np.random.default_rng(seed)
    wave = 0.01 * rng.standard_normal(round(seconds * RATE)).astype(np.float32)
    for word, start, end in bursts:
        t = np.arange(round(start * RATE), round(end * RATE))
        wave[t] += 0.5 * np.sin(2 * np.pi * TONES[word] * t / RATE)
    return wave


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


@pytest.mark.parametrize("chunk", [1, 37, 800, 48000])
def test_the_same_events_whatever_the_chunk_size(chunk):
    wave = stream(BURSTS)
    assert events_of(wave, chunk, threshold=0.9) == events_of(wave, wave.size, threshold=0.9)


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
        assert detector.buffer.size <= detector.window + 4000
    assert events and all(e.word in ("low", "high") for e in events)  # threshold 0


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
    assert ToneSpotter().detect(path, threshold=0.9) is not None
    samples = np.concatenate(list(chunks_of_source(io.BytesIO(pcm[:-1]), RATE)))
    assert samples.size == wave.size - 1  # a trailing odd byte is no sample
    assert np.abs(samples - wave[:-1]).max() < 1e-4


def test_a_file_at_another_rate_or_missing_is_a_clear_error(tmp_path):
    sf.write(tmp_path / "16k.wav", np.zeros(16000, np.float32), 16000)
    with pytest.raises(AudioError, match=r"16k\.wav: 16000 Hz, and this model listens at 8000"):
        list(detect(ToneSpotter(), tmp_path / "16k.wav"))
    with pytest.raises(AudioError, match=r"gone\.wav: file not found"):
        list(detect(ToneSpotter(), tmp_path / "gone.wav"))


def test_event_as_dict_rounds_times():
    event = Event("yes", 1.23456, 2.34567, 0.9876543)
    assert event.as_dict() == {"word": "yes", "start": 1.235, "end": 2.346, "score": 0.987654}


def test_a_checkpoint_and_its_export_detect_the_same_events(tmp_path):
    """A KWS model (random weights, built as the tests of the export build one):
    seqrec.load on the checkpoint and on its ONNX file, and seqrec-detect, give the
    same events on a long file."""
    import json

    import seqrec
    from seqrec.export import export_onnx
    from tests.helpers import run_cli
    from tests.unit.test_export import synthetic_waves, write_checkpoint

    ckpt = write_checkpoint(tmp_path / "kws.ckpt", "kws_gru_mean")
    loaded = seqrec.load(ckpt)
    onnx_file = export_onnx(loaded, tmp_path / "kws.onnx")
    long = np.concatenate(synthetic_waves(seconds=(1.0, 0.3, 2.2, 0.5, 1.5), seed=2))
    path = tmp_path / "long.wav"
    sf.write(path, long, 16000)
    options = {"threshold": 0.0, "refractory_seconds": 0.5}  # an event every 0.5 s
    expected = [e.as_dict() for e in loaded.detect(path, **options)]
    assert len(expected) >= 8 and all(e["word"] in loaded.labels for e in expected)
    assert [e.as_dict() for e in seqrec.load(onnx_file).detect(path, **options)] == expected
    result = run_cli(
        "seqrec-detect", f"ckpt_path={onnx_file}", f"input={path}", "threshold=0.0",
        "refractory_seconds=0.5",
    )  # fmt: skip
    assert [json.loads(line) for line in result.stdout.splitlines()] == expected
    wrong = run_cli("seqrec-detect", f"ckpt_path={onnx_file}", "input=gone.wav", check=False)
    assert wrong.returncode != 0 and "gone.wav: file not found" in wrong.stderr + wrong.stdout
