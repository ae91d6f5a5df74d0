"""seqrec.data.streams: the stream mixer puts every segment where its label says, keeps
its gaps and levels; the Speech Commands streams use test clips and test noise only."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from seqrec.data.prepared import DatasetLayoutError
from seqrec.data.speech_commands import WORDS_10
from seqrec.data.speech_commands_streams import SpeechCommandsStreams
from seqrec.data.streams import Segment, SegmentQueue, StreamLayout, word_bounds
from tests.helpers import write_streams_layout

RATE = 16000


def tone_segment(text: str, frequency: float, seconds: float, pad: int = 800) -> Segment:
    """A tone burst with an uneven envelope, between ``pad`` zeros each side."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    burst = np.sin(2 * np.pi * frequency * t) * (0.5 + 0.4 * np.sin(2 * np.pi * 3 * t))
    audio = np.concatenate([np.zeros(pad), burst, np.zeros(pad)]).astype(np.float32)
    return Segment(audio, pad, pad + n, text)


def labels_of(stream) -> list[tuple[float, float, bool]]:
    rows = [(k["start"], k["end"], True) for k in stream.keywords]
    return sorted(rows + [(s["start"], s["end"], False) for s in stream.speech])


def test_word_bounds_find_the_word_in_a_noisy_clip():
    rng = np.random.default_rng(0)
    clip = 0.003 * rng.standard_normal(RATE)
    clip[4800:10400] += 0.5 * np.sin(np.arange(5600) * 0.2)
    clip[15600:15650] += 0.4  # a click after the word is not part of it
    assert word_bounds(clip, RATE) == (4800, 10400)
    assert word_bounds(np.zeros(RATE), RATE) == (0, 0)
    # without max_pause_seconds: from the first loud frame to the last (the click)
    assert word_bounds(clip, RATE, max_pause_seconds=None) == (4800, 15680)


def test_the_mixer_puts_every_segment_where_its_label_says():
    keywords = {f"kw{i}": tone_segment(f"kw{i}", 300 + 50 * i, 0.3 + 0.02 * i) for i in range(12)}
    speech = {f"sp{i}": tone_segment(f"sp{i}", 1500 + 40 * i, 0.5 + 0.3 * i) for i in range(12)}
    layout = StreamLayout(keyword_spacing=(5.0, 7.0))
    seconds = 60.0
    stream = layout.mix(
        np.zeros(round(seconds * RATE)),  # digital silence: only the segments sound
        RATE,
        list(keywords.values()),
        list(speech.values()),
        snr_db=(10.0, 30.0),
        rng=np.random.default_rng(1),
    )
    audio = stream.audio.astype(np.float64)
    assert audio.shape == (round(seconds * RATE),) and stream.too_long == 0
    assert len(stream.keywords) >= 6 and len(stream.speech) >= 3
    covered = np.zeros(audio.shape[0], dtype=bool)
    for rows, segments in ((stream.keywords, keywords), (stream.speech, speech)):
        for row in rows:
            segment = segments[row.get("word", row.get("text"))]
            word = segment.audio[segment.start : segment.end].astype(np.float64)
            start = round(row["start"] * RATE)
            assert start == row["start"] * RATE  # starts lie on whole milliseconds
            assert abs(row["end"] * RATE - (start + word.size)) <= RATE / 2000  # rounded to ms
            placed = audio[start : start + word.size]
            gain = placed @ word / (word @ word)
            assert gain > 0 and np.abs(placed - gain * word).max() < 1e-6 * gain
            # the segment's energy lies inside its label (its pads are silent)
            pad = segment.start
            around = audio[start - pad : start + word.size + pad]
            assert placed @ placed == pytest.approx(around @ around, rel=1e-9)
            covered[start : start + word.size] = True
    assert not np.any(audio[~covered])  # nothing sounds outside the labels
    labels = labels_of(stream)
    assert labels[0][0] >= layout.edge_seconds and labels[-1][1] <= seconds - layout.edge_seconds
    for (_, end, kw_a), (start, _, kw_b) in itertools.pairwise(labels):
        assert start >= end
        if kw_a or kw_b:  # a keyword is min_gap_seconds from anything spoken
            assert start - end >= layout.min_gap_seconds - 1e-3
    starts = [k["start"] for k in stream.keywords]
    assert min(np.diff(starts)) >= layout.keyword_spacing[0] - 1e-3
    # keywords and speech come in the order given
    assert [k["word"] for k in stream.keywords] == list(keywords)[: len(stream.keywords)]
    assert [s["text"] for s in stream.speech] == list(speech)[: len(stream.speech)]


def test_the_default_layout_has_a_keyword_every_8_to_12_s_and_a_fifth_speech_or_more():
    rng = np.random.default_rng(0)
    keywords = (tone_segment(f"kw{i}", 500, rng.uniform(0.3, 0.6)) for i in itertools.count())
    speech = (  # like the synthetic corpus's: sentences of 1.5-4.3 s, 30 % words of 0.3-0.5 s
        tone_segment(f"sp{i}", 900, rng.uniform(0.3, 0.5) if i % 10 < 3 else rng.uniform(1.5, 4.3))
        for i in itertools.count()
    )
    stream = StreamLayout().mix(
        np.zeros(300 * RATE), RATE, keywords, speech, (5, 30), np.random.default_rng(0)
    )
    starts = [k["start"] for k in stream.keywords]
    assert 8.0 <= np.diff(starts).mean() <= 12.0 and np.diff(starts).min() >= 8.0 - 1e-3
    assert sum(s["end"] - s["start"] for s in stream.speech) / 300 > 0.2


def test_levels_follow_noise_db_and_snr_db():
    layout = StreamLayout(keyword_spacing=(4.0, 4.0), noise_db=(-40.0, -40.0), speech_fill=(0, 0))
    noise = np.random.default_rng(0).standard_normal(30 * RATE) * 7.0  # any level in
    segments = [tone_segment(f"kw{i}", 500 + 100 * i, 0.4) for i in range(10)]
    stream = layout.mix(noise, RATE, segments, [], (20.0, 20.0), np.random.default_rng(0))
    audio = stream.audio.astype(np.float64)
    assert not stream.speech and len(stream.keywords) == 7

    def db(x: np.ndarray) -> float:
        return 10 * np.log10(np.mean(x**2))

    assert db(audio[: RATE // 2]) == pytest.approx(-40.0, abs=0.3)  # noise_db
    for row in stream.keywords:
        start, end = round(row["start"] * RATE), round(row["end"] * RATE)
        speech_power = np.mean(audio[start:end] ** 2) - 10 ** (-40 / 10)
        assert 10 * np.log10(speech_power) == pytest.approx(-40.0 + 20.0, abs=0.3)


def test_speech_too_long_for_any_stretch_is_left_out_and_counted():
    layout = StreamLayout(keyword_spacing=(6.0, 8.0), min_gap_seconds=2.0, speech_fill=(1, 1))
    speech = [tone_segment("long", 900, 4.5), tone_segment("short", 1200, 0.5)]
    keywords = [tone_segment(f"kw{i}", 400 + 50 * i, 0.3) for i in range(6)]
    stream = layout.mix(
        np.zeros(40 * RATE), RATE, keywords, speech, (20, 20), np.random.default_rng(0)
    )
    assert stream.too_long == 1 and [s["text"] for s in stream.speech] == ["short"]


def test_a_shared_queue_keeps_what_one_stream_did_not_use():
    keywords = SegmentQueue(tone_segment(f"kw{i}", 400 + 20 * i, 0.3) for i in range(40))
    layout = StreamLayout(keyword_spacing=(3.0, 3.0), min_gap_seconds=1.0)
    words = []
    for seed in range(2):
        stream = layout.mix(
            np.zeros(20 * RATE), RATE, keywords, [], (20, 20), np.random.default_rng(seed)
        )
        words += [k["word"] for k in stream.keywords]
    assert words == [f"kw{i}" for i in range(len(words))] and len(words) >= 10


def test_bad_settings_and_segments_are_refused():
    with pytest.raises(ValueError, match="keyword_spacing"):
        StreamLayout(keyword_spacing=(12.0, 8.0))
    with pytest.raises(ValueError, match="speech_fill"):
        StreamLayout(speech_fill=(0.5, 1.5))
    with pytest.raises(ValueError, match="not inside"):
        Segment(np.ones(100, dtype=np.float32), 50, 120, "yes")
    with pytest.raises(ValueError, match="digital silence"):
        Segment(np.zeros(100, dtype=np.float32), 10, 90, "yes")
    with pytest.raises(ValueError, match="quote yes/no"):
        SpeechCommandsStreams(root="r", out="o", keywords=[True, "up"])


# --- Speech Commands --------------------------------------------------------------------


def dominant_frequency(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / RATE)[spectrum.argmax()])


@pytest.fixture
def streams_layout(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "speech_commands_v0.02"
    return root, write_streams_layout(root)


def test_speech_commands_streams_use_test_clips_and_test_noise(streams_layout, tmp_path):
    root, clips = streams_layout
    builder = SpeechCommandsStreams(
        root=str(root),
        out=str(tmp_path / "streams"),
        streams=2,
        stream_seconds=40.0,
        layout=StreamLayout(keyword_spacing=(5.0, 6.0)),
        snr_db=(40.0, 40.0),
    )
    out = builder()
    rows = [json.loads(line) for line in (out / "streams.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["stream_000", "stream_001"]
    frequencies = np.array(sorted(clips))
    used = []
    for row in rows:
        info = sf.info(str(out / row["audio_filepath"]))
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
        assert row["duration"] == info.frames / RATE == 40.0
        audio, _ = sf.read(out / row["audio_filepath"])
        assert len(row["keywords"]) >= 5
        for label, kind in [(k, "word") for k in row["keywords"]] + [
            (s, "text") for s in row["speech"]
        ]:
            start, end = round(label["start"] * RATE), round(label["end"] * RATE)
            found = frequencies[np.abs(frequencies - dominant_frequency(audio[start:end])).argmin()]
            relative, burst_start, burst_end, listed = clips[found]
            assert listed and relative.split("/")[0] == label[kind]  # a test clip of the word
            assert (label[kind] in WORDS_10) == (kind == "word")
            assert abs((end - start) - (burst_end - burst_start)) <= 8  # the label is the burst
            clip, _ = sf.read(root / relative)
            assert (
                np.corrcoef(audio[start:end], clip[burst_start : end - start + burst_start])[0, 1]
                > 0.99
            )
            used.append(relative)
        # between the segments: the noise's test share (white), never the 5 kHz tone before it
        quiet = np.ones(audio.size, dtype=bool)
        for label in row["keywords"] + row["speech"]:
            quiet[round(label["start"] * RATE) - 1600 : round(label["end"] * RATE) + 1600] = False
        spectrum = np.abs(np.fft.rfft(audio[quiet])) ** 2
        bins = np.fft.rfftfreq(int(quiet.sum()), 1 / RATE)
        assert spectrum[np.abs(bins - 5000) < 20].max() < 50 * np.median(spectrum)
    assert any(r["speech"] for r in rows) and len(used) == len(set(used))  # no clip twice
    stats = json.loads((out / "streams_stats.json").read_text())
    assert stats["streams"] == 2 and stats["hours"] == round(80 / 3600, 4)
    assert (
        stats["keyword_total"]
        == sum(len(r["keywords"]) for r in rows)
        == sum(stats["keywords"].values())
    )
    assert set(stats["keywords"]) == set(WORDS_10) and stats["skipped_clips"] == []
    speech = sum(s["end"] - s["start"] for r in rows for s in r["speech"])
    assert stats["speech_seconds"] == pytest.approx(speech, abs=1e-3)
    stamp = (out / "streams.jsonl").stat().st_mtime_ns
    assert builder() == out and (out / "streams.jsonl").stat().st_mtime_ns == stamp  # reused


def test_speech_commands_val_streams_use_validation_clips_and_noise(streams_layout, tmp_path):
    root, clips = streams_layout
    validation = sorted(relative for relative, *_, listed in clips.values() if not listed)
    (root / "validation_list.txt").write_text("\n".join(validation) + "\n")
    out = SpeechCommandsStreams(
        root=str(root),
        out=str(tmp_path / "val"),
        streams=1,
        stream_seconds=40.0,
        layout=StreamLayout(keyword_spacing=(5.0, 6.0)),
        snr_db=(40.0, 40.0),
        split="val",
    )()
    row = json.loads((out / "streams.jsonl").read_text())
    audio, _ = sf.read(out / row["audio_filepath"])
    frequencies = np.array(sorted(clips))
    assert len(row["keywords"]) >= 5
    assert row["speech"]
    for label, kind in [(k, "word") for k in row["keywords"]] + [
        (s, "text") for s in row["speech"]
    ]:
        start, end = round(label["start"] * RATE), round(label["end"] * RATE)
        found = frequencies[np.abs(frequencies - dominant_frequency(audio[start:end])).argmin()]
        relative = clips[found][0]
        assert relative in validation and relative.split("/")[0] == label[kind]
    # the background is the noise's validation share: the 5 kHz tone, not the white test share
    quiet = np.ones(audio.size, dtype=bool)
    for label in row["keywords"] + row["speech"]:
        quiet[round(label["start"] * RATE) - 1600 : round(label["end"] * RATE) + 1600] = False
    assert abs(dominant_frequency(audio[quiet]) - 5000) < 20
    with pytest.raises(ValueError, match="split must be one of test, val"):
        SpeechCommandsStreams(root=str(root), out="o", split="train")


def test_a_clip_with_no_word_is_skipped_and_named(streams_layout, tmp_path):
    root, _ = streams_layout
    silent = "cat/test00_nohash_0.wav"
    sf.write(root / silent, np.zeros(RATE, dtype=np.float32), RATE, subtype="PCM_16")
    out = SpeechCommandsStreams(
        root=str(root), out=str(tmp_path / "s"), streams=1, stream_seconds=60.0
    )()
    assert json.loads((out / "streams_stats.json").read_text())["skipped_clips"] == [silent]


def test_broken_layouts_get_clear_errors(streams_layout, tmp_path):
    root, _ = streams_layout

    def build():
        SpeechCommandsStreams(
            root=str(root), out=str(tmp_path / "s"), streams=1, stream_seconds=20.0
        )()

    for noise in (root / "_background_noise_").glob("*.wav"):
        noise.unlink()
    with pytest.raises(DatasetLayoutError, match=r"_background_noise_: no \.wav"):
        build()
    listing = (root / "testing_list.txt").read_text()
    (root / "testing_list.txt").write_text(listing + "go/gone_nohash_0.wav\n")
    line = len(listing.split()) + 1
    with pytest.raises(
        DatasetLayoutError, match=rf"testing_list.txt:{line}: .*gone_nohash_0.wav does not exist"
    ):
        build()
    (root / "testing_list.txt").write_text(
        "".join(line + "\n" for line in listing.split() if not line.startswith("stop/"))
    )
    with pytest.raises(
        DatasetLayoutError, match=r"testing_list.txt: no clips of keyword\(s\) stop"
    ):
        build()
    for clip in (root / "stop").iterdir():
        clip.unlink()
    (root / "stop").rmdir()
    with pytest.raises(DatasetLayoutError, match=r"keyword folder\(s\) missing: stop"):
        build()
    (root / "testing_list.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=f"{root}: no testing_list.txt"):
        build()
    assert not (tmp_path / "s").exists()  # nothing written
