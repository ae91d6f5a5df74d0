"""Per-keyword thresholds, calibrated on streams of other voices
(``seqrec-eval-stream calibration=<streams.jsonl>``), torch-free.

One threshold for every keyword treats all words' scores alike, but a model is surer of
some words than of others: on held-out voices a short word such as "up" may never
score as high as "seven", while the words it is sure of also score high where they are
not spoken. Keyword-specific thresholds are the usual answer in keyword search
(Karakos et al., "Score normalization and system combination for improved keyword
spotting", ASRU 2013). Here each keyword's smoothed scores are shifted in logit space
so that the keywords' false-alarm tails line up:

- on the calibration streams (spoken by voices that are neither trained on nor tested:
  ``seqrec-streams split=val``), the *impostor* windows of keyword ``k`` are those that
  do not overlap an occurrence of ``k``;
- ``b_k`` is the logit of the ``rank``-th highest smoothed ``k`` score among them,
  less the mean of those logits over the keywords;
- a reference threshold ``T`` stands for the thresholds ``sigmoid(logit(T) + b_k)``,
  one per keyword: about the same depth into every keyword's impostor tail.

``rank`` counts windows, not false alarms: at a 0.1 s hop with posteriors averaged
over 3 windows, one burst of impostor scores spans a few windows, so the default 10th
window lies about two to four false alarms deep into a keyword's tail. A higher rank
rests each offset on more of the tail and less on its single worst burst.

``seqrec.kws.evaluate`` then sweeps ``T`` on the test streams exactly as it sweeps the
shared threshold, firing with the per-keyword thresholds (the detector's own rule), and
writes the chosen ones into the sidecar as a mapping word -> threshold, which
``detect()`` takes as it is. The calibration streams must not be the test streams: a
tail measured on the test audio would tune the thresholds to it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqrec.kws.detector import NON_KEYWORDS, Track
from seqrec.kws.streams_manifest import Stream

EPS = 1e-7  # a keyword's tail score is clipped into [EPS, 1 - EPS]: its offset is finite
RANK = 10  # the impostor window, counted from the highest score, that places a keyword's tail


def logit(p: np.ndarray | float, eps: float = 0.0) -> np.ndarray:
    """``log(p / (1 - p))``, -inf at 0 and inf at 1 (after clipping into
    ``[eps, 1 - eps]``)."""
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


@dataclass(frozen=True)
class Calibration:
    """Per-keyword logit offsets (``offsets[word]``, mean 0) and where they came from."""

    offsets: dict[str, float]
    rank: int = RANK
    streams: str = ""
    impostor_windows: int = 0  # the fewest impostor windows any keyword had

    def thresholds(self, reference: float) -> dict[str, float]:
        """The per-keyword thresholds that reference threshold ``reference`` stands for:
        ``sigmoid(logit(reference) + offset)``; 0 and 1 stay 0 and 1, and anything
        above 1 is kept as it is (never fire).

        >>> Calibration({"yes": 0.0, "no": np.log(3)}).thresholds(0.5)
        {'yes': 0.5, 'no': 0.75}
        """
        if reference <= 0 or reference >= 1:
            return dict.fromkeys(self.offsets, max(float(reference), 0.0))
        shifted = sigmoid(logit(reference) + np.array(list(self.offsets.values())))
        return {word: float(t) for word, t in zip(self.offsets, shifted, strict=True)}

    def calibrated(self, track: Track) -> Track:
        """``track`` with each keyword's scores moved onto the reference scale,
        ``sigmoid(logit(score) - offset)`` (0 and 1 stay 0 and 1): a window reaches
        reference threshold ``T`` there when its raw score reaches the keyword's own
        threshold (up to rounding in the last bits)."""
        smoothed = np.array(track.smoothed, np.float64)
        for c, label in enumerate(track.labels):
            if label in self.offsets:
                smoothed[:, c] = sigmoid(logit(smoothed[:, c]) - self.offsets[label])
        return Track(track.labels, track.rate, track.window, track.end_samples, smoothed)

    def as_dict(self) -> dict[str, object]:
        return {
            "streams": self.streams,
            "rank": self.rank,
            "impostor_windows": self.impostor_windows,
            "offsets": {w: round(b, 6) for w, b in self.offsets.items()},
        }


def impostor_scores(
    tracks: Sequence[Track], streams: Sequence[Stream], guard_seconds: float = 1.0
) -> dict[str, np.ndarray]:
    """Per keyword of the model, the smoothed scores of its impostor windows on every
    stream, sorted ascending: the windows that end outside ``[start, end + window +
    guard_seconds]`` of each of that word's occurrences (so no part of the word, or of
    the smoothing after it, is in them).

    >>> from pathlib import Path
    >>> from seqrec.kws.streams_manifest import Keyword
    >>> scores = np.linspace(0, 0.9, 10)  # windows ending at 1.0, 1.5, ..., 5.5 s
    >>> track = Track(("_silence_", "yes"), 10, 10, np.arange(10, 60, 5),
    ...               np.stack([1 - scores, scores], axis=1))
    >>> stream = Stream("s", Path("s.wav"), 6.0, (Keyword("yes", 2.0, 2.5),))
    >>> impostor_scores([track], [stream], guard_seconds=0.5)["yes"].round(1).tolist()
    [0.0, 0.1, 0.7, 0.8, 0.9]
    """
    found: dict[str, list[np.ndarray]] = {}
    for track, stream in zip(tracks, streams, strict=True):
        ends, reach = track.ends, track.window / track.rate + guard_seconds
        for c, word in enumerate(track.labels):
            if word in NON_KEYWORDS:
                continue
            keep = np.ones(ends.size, bool)
            for keyword in stream.keywords:
                if keyword.word == word:
                    keep &= (ends < keyword.start) | (ends > keyword.end + reach)
            found.setdefault(word, []).append(track.smoothed[keep, c])
    return {word: np.sort(np.concatenate(scores)) for word, scores in found.items()}


def calibrate(
    tracks: Sequence[Track],
    streams: Sequence[Stream],
    rank: int = RANK,
    source: str = "",
) -> Calibration:
    """The :class:`Calibration` whose offsets line up the keywords' ``rank``-th highest
    impostor scores (:func:`impostor_scores`) on the calibration ``tracks``."""
    if rank < 1:
        raise ValueError(f"calibration_rank must be at least 1, got {rank}")
    impostors = impostor_scores(tracks, streams)
    fewest = min((s.size for s in impostors.values()), default=0)
    if fewest < rank:
        word = min(impostors, key=lambda w: impostors[w].size)
        raise ValueError(
            f"{source or 'calibration streams'}: keyword {word!r} has {fewest} impostor "
            f"windows, fewer than calibration_rank={rank}; use longer calibration streams"
        )
    tails = {word: float(logit(s[-rank], EPS)) for word, s in impostors.items()}
    mean = float(np.mean(list(tails.values())))
    offsets = {word: tail - mean for word, tail in tails.items()}
    return Calibration(offsets, rank, source, int(fewest))
