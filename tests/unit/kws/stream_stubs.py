"""A classifier whose scores are known (a tone spotter), the streams of noise and tone
bursts it listens to, and a streams manifest of them on disk: shared by the tests of
seqrec.kws.detector and seqrec.kws.evaluate."""

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from seqrec import api

RATE = 8000
TONES = {"low": 300.0, "high": 1200.0}


class ToneSpotter(api.Classifies):
    """An audio classifier whose posterior for a word grows with the energy of the
    word's tone in the window: about 0.94 for half a second of a 0.5-amplitude tone."""

    modality = "audio"
    sample_rate = RATE
    labels = ("_silence_", "low", "high")
    source = "tone spotter"

    def prepare(self, item, index=None):
        return [np.asarray(item, dtype=np.float32)]

    def posteriors(self, items, batch_size=32):
        t = np.arange(RATE) / RATE
        logits = []
        for (window,) in items:
            energy = [
                abs(window @ np.exp(2j * np.pi * f * t[: window.size])) / (0.25 * RATE)
                for f in TONES.values()
            ]  # 0.5 per half second of a 0.5-amplitude tone
            logits.append([1.0, *(8.0 * min(e, 1.0) for e in energy)])
        logits = np.array(logits)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def stream(bursts, seconds=6.0, seed=0, amplitude=0.5):
    """Quiet noise with tone bursts: (word, start, end) in seconds, or (word, start,
    end, amplitude)."""
    rng = np.random.default_rng(seed)
    wave = 0.01 * rng.standard_normal(round(seconds * RATE)).astype(np.float32)
    for word, start, end, *level in bursts:
        t = np.arange(round(start * RATE), round(end * RATE))
        wave[t] += (level[0] if level else amplitude) * np.sin(2 * np.pi * TONES[word] * t / RATE)
    return wave


def write_streams(root: Path, streams: dict, seconds: float = 6.0) -> Path:
    """``root/streams.jsonl`` and its wavs: per stream id, (bursts played, keywords
    marked as (word, start, end))."""
    (root / "streams").mkdir(parents=True, exist_ok=True)
    lines = []
    for seed, (name, (bursts, keywords)) in enumerate(streams.items()):
        sf.write(root / "streams" / f"{name}.wav", stream(bursts, seconds, seed), RATE)
        lines.append({
            "audio_filepath": f"streams/{name}.wav",
            "duration": seconds,
            "id": name,
            "keywords": [{"word": w, "start": s, "end": e} for w, s, e in keywords],
            "speech": [],
        })  # fmt: skip
    manifest = root / "streams.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest
