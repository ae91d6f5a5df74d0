"""The threshold sweep of keyword detection on streams (for ``seqrec-eval-stream``,
:mod:`seqrec.kws.evaluate`), torch-free: events matched to the keywords' known times,
hits and false alarms at every threshold, and the DET curve as CSV and PNG.

An event is a hit when it names the word and is given (``Event.time``: its window's
end, or the end of its decision span) between the keyword's start and
``tolerance_seconds`` after its end; a keyword is hit at most once, by its earliest
such event; every other event is a false alarm. Every threshold's events come from
:func:`seqrec.kws.detector.fired_windows`, the detector's own rule, so each point of the
sweep is exactly what ``detect()`` gives there. The threshold is one for every keyword,
or with a :class:`~seqrec.kws.calibration.Calibration` a reference threshold that
stands for one threshold per keyword.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqrec.kws.calibration import Calibration
from seqrec.kws.detector import NON_KEYWORDS, Event, Track, fired_windows
from seqrec.kws.streams_manifest import Keyword, Stream

ALL = "all"  # the keyword column of the totals over every keyword
FA_TARGETS = (0.5, 1.0, 5.0)  # false alarms per hour at which recall is reported
MAX_THRESHOLDS = 1000  # thresholds swept at most (then refined near each FA/h target)
GRID = np.round(np.linspace(0.0, 1.0, 101), 2)  # always swept, beside the scores seen
EDGE = 1e-9  # seconds: a float sum must not move an event off a keyword's edge


@dataclass
class Matching:
    """The events of a stream against its keywords: hits (keyword, its event), false
    alarms and missed keywords."""

    hits: list[tuple[Keyword, Event]]
    false_alarms: list[Event]
    misses: list[Keyword]

    @property
    def latencies(self) -> list[float]:
        """Per hit: seconds from the end of the keyword to the event's firing."""
        return [event.time - keyword.end for keyword, event in self.hits]


def match_events(
    events: Sequence[Event], keywords: Sequence[Keyword], tolerance_seconds: float = 1.0
) -> Matching:
    """Hits, false alarms and misses of ``events`` against the sorted, non-overlapping
    ``keywords`` of one stream: a keyword is hit by the earliest event not yet used that
    names its word and is given (``Event.time``) in ``[start, end + tolerance_seconds]``.

    >>> kws = [Keyword("yes", 1.0, 1.5), Keyword("no", 4.0, 4.4)]
    >>> events = [Event("yes", 0.8, 1.8, 0.9), Event("yes", 1.0, 2.0, 0.9), Event("up", 3.0, 4.0, 1.0)]
    >>> m = match_events(events, kws)
    >>> len(m.hits), [e.end for e in m.false_alarms], m.misses, np.round(m.latencies, 3)
    (1, [2.0, 4.0], [Keyword(word='no', start=4.0, end=4.4)], array([0.3]))
    """
    pairs = _pair([e.time for e in events], [e.word for e in events], keywords, tolerance_seconds)
    hits = [(k, events[i]) for k, i in zip(keywords, pairs, strict=True) if i >= 0]
    misses = [k for k, i in zip(keywords, pairs, strict=True) if i < 0]
    used = set(pairs)
    return Matching(hits, [e for i, e in enumerate(events) if i not in used], misses)


def _pair(
    ends: Sequence[float], words: Sequence[str], keywords: Sequence[Keyword], tolerance: float
) -> list[int]:
    """Per keyword, the index of the event that hits it (:func:`match_events`), or -1."""
    by_word: dict[str, list[int]] = {}  # event indices, by firing time
    for i in sorted(range(len(ends)), key=ends.__getitem__):
        by_word.setdefault(words[i], []).append(i)
    word_ends = {w: [ends[i] for i in found] for w, found in by_word.items()}
    # per word: the events before next_free are used, or fire before the keywords to come
    next_free = dict.fromkeys(by_word, 0)
    pairs = []
    for keyword in keywords:
        found = by_word.get(keyword.word)
        if found:
            times = word_ends[keyword.word]
            j = max(next_free[keyword.word], bisect.bisect_left(times, keyword.start - EDGE))
            if j < len(found) and times[j] <= keyword.end + tolerance + EDGE:
                pairs.append(found[j])
                next_free[keyword.word] = j + 1
                continue
        pairs.append(-1)
    return pairs


@dataclass
class Det:
    """The DET sweep: per threshold and per keyword column (``ALL``, then each word),
    the hits and false alarms, over ``hours`` of audio."""

    thresholds: np.ndarray  # (T,) ascending
    columns: tuple[str, ...]  # (K,) ALL, then the model's keywords
    keywords: np.ndarray  # (K,) true occurrences per column
    hits: np.ndarray  # (T, K)
    false_alarms: np.ndarray  # (T, K)
    hours: float

    @property
    def recall(self) -> np.ndarray:
        """(T, K) hits / occurrences; NaN for a word that never occurs."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.keywords > 0, self.hits / self.keywords, np.nan)

    @property
    def fa_per_hour(self) -> np.ndarray:
        """(T, K) false alarms (naming the column's word) per hour of audio."""
        return self.false_alarms / self.hours

    def merged(self, other: "Det") -> "Det":
        """Both sweeps' thresholds, in order."""
        order = np.argsort(np.concatenate([self.thresholds, other.thresholds]), kind="stable")

        def stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate([a, b])[order]

        return Det(stack(self.thresholds, other.thresholds), self.columns, self.keywords,
                   stack(self.hits, other.hits), stack(self.false_alarms, other.false_alarms),
                   self.hours)  # fmt: skip

    def lowest_meeting(self, fa_per_hour: float) -> int:
        """The row of the lowest threshold whose overall FA/h is at most ``fa_per_hour``."""
        return int(np.flatnonzero(self.fa_per_hour[:, 0] <= fa_per_hour)[0])

    def recall_at(self, fa_per_hour: float) -> dict[str, float | None]:
        """Per column: the best recall among the thresholds whose FA/h (for the
        column's word) is at most ``fa_per_hour``."""
        recall, ok = self.recall, self.fa_per_hour <= fa_per_hour
        return {
            column: None if self.keywords[k] == 0 else float(recall[ok[:, k], k].max())
            for k, column in enumerate(self.columns)
        }


def keyword_scores(track: Track) -> np.ndarray:
    """(N,) per window, the best smoothed score of a keyword: the threshold at and
    below which the window can fire."""
    columns = [i for i, w in enumerate(track.labels) if w not in NON_KEYWORDS]
    return track.smoothed[:, columns].max(axis=1, initial=-np.inf)


def candidate_thresholds(tracks: Sequence[Track], every_keyword: bool = False) -> np.ndarray:
    """Every threshold at which some stream's events change, the 0..1 grid, and one
    above every score (no events), ascending. With one threshold for all keywords the
    events change only at a window's best keyword score; with per-keyword thresholds
    (``every_keyword``, on calibrated tracks) at every keyword's score, since the word a
    window fires is the one with the best raw score among those past their own limits."""
    if every_keyword:
        scores = np.concatenate([
            t.smoothed[:, [i for i, w in enumerate(t.labels) if w not in NON_KEYWORDS]].ravel()
            for t in tracks
        ])  # fmt: skip
        # just under each score: the per-keyword limits come back from the calibrated
        # scale with rounding in the last bits, which must not decide whether it fires
        top = max(float(scores.max(initial=0.0)), 1.0) + 1e-6  # above 1: never fires
        return np.unique(np.concatenate([scores * (1 - 1e-12), GRID, [top]]))
    scores = np.concatenate([keyword_scores(t) for t in tracks] + [GRID])
    return np.unique(np.append(scores, np.nextafter(scores.max(), np.inf)))


def sweep(
    tracks: Sequence[Track],
    streams: Sequence[Stream],
    thresholds: Sequence[float],
    columns: Sequence[str],
    refractory_seconds: float,
    tolerance_seconds: float,
    decision_seconds: float = 0.0,
    calibration: Calibration | None = None,
) -> Det:
    """The hits and false alarms at each threshold (one for all keywords, or the
    reference threshold of ``calibration``: one per keyword), from the windows that
    fire on each stream's track (:func:`~seqrec.kws.detector.fired_windows`, the events of
    :func:`~seqrec.kws.detector.trigger` and of the detector)."""
    column = {w: k for k, w in enumerate(columns)}
    hits = np.zeros((len(thresholds), len(columns)), np.int64)
    events = np.zeros_like(hits)  # per column, all the events naming its word
    for track, stream in zip(tracks, streams, strict=True):
        to_column = np.array([column.get(w, 0) for w in track.labels])  # never fire: 0
        for row, threshold in enumerate(thresholds):
            limits = calibration.thresholds(float(threshold)) if calibration else float(threshold)
            times, classes = fired_windows(track, limits, refractory_seconds, decision_seconds)
            names = [track.labels[c] for c in classes.tolist()]
            pairs = _pair(times.tolist(), names, stream.keywords, tolerance_seconds)
            for keyword, pair in zip(stream.keywords, pairs, strict=True):
                hits[row, column[keyword.word]] += pair >= 0
            events[row] += np.bincount(to_column[classes], minlength=len(columns))
    hits[:, 0], events[:, 0] = hits[:, 1:].sum(axis=1), events[:, 1:].sum(axis=1)
    keywords = np.zeros(len(columns), np.int64)
    for stream in streams:
        for keyword in stream.keywords:
            keywords[column[keyword.word]] += 1
    keywords[0] = keywords[1:].sum()
    hours = sum(s.duration for s in streams) / 3600
    thresholds = np.asarray(thresholds, float)
    return Det(thresholds, tuple(columns), keywords, hits, events - hits, hours)


def latency_stats(latencies: Sequence[float]) -> dict[str, float | None]:
    """Median and 90th percentile of detection latencies (seconds), None without hits.

    >>> latency_stats([0.2, 0.4, 0.3, 1.0])
    {'latency_median': 0.35, 'latency_p90': 0.82}
    """
    if not latencies:
        return {"latency_median": None, "latency_p90": None}
    return {
        "latency_median": round(float(np.median(latencies)), 6),
        "latency_p90": round(float(np.percentile(latencies, 90)), 6),
    }


def sweep_thresholds(
    tracks: Sequence[Track],
    streams: Sequence[Stream],
    columns: Sequence[str],
    refractory_seconds: float,
    tolerance_seconds: float,
    fa_targets: Sequence[float] = FA_TARGETS,
    max_thresholds: int = MAX_THRESHOLDS,
    decision_seconds: float = 0.0,
    calibration: Calibration | None = None,
) -> Det:
    """:func:`sweep` at every :func:`candidate_thresholds` (of the calibrated tracks,
    with ``calibration``), or when there are more than ``max_thresholds``, at that many
    spread out, then at every one between the lowest threshold that meets each of
    ``fa_targets`` and the threshold swept below it."""
    settings = (columns, refractory_seconds, tolerance_seconds, decision_seconds, calibration)
    if calibration:
        candidates = candidate_thresholds([calibration.calibrated(t) for t in tracks], True)
    else:
        candidates = candidate_thresholds(tracks)
    det = sweep(tracks, streams, _spread(candidates, max_thresholds), *settings)
    if len(det.thresholds) == len(candidates):
        return det
    gaps = [np.zeros(0)]
    for target in fa_targets:
        row = det.lowest_meeting(target)
        if row > 0:
            low, high = det.thresholds[row - 1], det.thresholds[row]
            gaps.append(candidates[(candidates > low) & (candidates < high)])
    return det.merged(sweep(tracks, streams, np.unique(np.concatenate(gaps)), *settings))


def _spread(candidates: np.ndarray, cap: int) -> np.ndarray:
    """At most about ``cap`` of the ascending ``candidates``: evenly spread by rank,
    with the grid and the highest (no events) always in."""
    if len(candidates) <= cap:
        return candidates
    ranks = np.linspace(0, len(candidates) - 1, max(cap - GRID.size, 2)).round().astype(int)
    return np.unique(np.concatenate([candidates[ranks], GRID, candidates[-1:]]))


def write_det_csv(det: Det, path: Path) -> None:
    """One row per threshold and column: threshold (the reference threshold, with
    per-keyword thresholds), keyword (or "all"), miss_rate, fa_per_hour, recall, hits,
    false_alarms (rates empty for a word that never occurs)."""
    lines = ["threshold,keyword,miss_rate,fa_per_hour,recall,hits,false_alarms"]
    recall, fa = det.recall, det.fa_per_hour
    for t, threshold in enumerate(det.thresholds):
        for k, column in enumerate(det.columns):
            r = "" if np.isnan(recall[t, k]) else f"{recall[t, k]:.6f}"
            miss = "" if np.isnan(recall[t, k]) else f"{1 - recall[t, k]:.6f}"
            lines.append(f"{float(threshold)!r},{column},{miss},{fa[t, k]:.6g},{r},"
                         f"{det.hits[t, k]},{det.false_alarms[t, k]}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_det(det: Det, recall_at: dict[str, dict], path: Path, per_keyword: bool = False) -> None:
    """Miss rate against false alarms per hour (log scale; none drawn at the left
    edge), overall and per keyword, with the recall at each FA/h target marked;
    ``per_keyword``: the sweep was of calibrated per-keyword thresholds."""
    from matplotlib.figure import Figure  # the Agg canvas; pyplot's backend is left alone

    floor = min(min(FA_TARGETS), 1 / det.hours) / 2
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    fa, miss = np.maximum(det.fa_per_hour, floor), 1 - det.recall
    for k, column in reversed(list(enumerate(det.columns))):
        if det.keywords[k]:
            wide = column == ALL
            ax.plot(fa[:, k], miss[:, k], color="black" if wide else None,
                    linewidth=2.0 if wide else 0.8, label=column, zorder=3 if wide else 2)  # fmt: skip
    marked = [(float(t), r[ALL]) for t, r in recall_at.items() if r[ALL] is not None]
    for i, (target, recall) in enumerate(marked):
        ax.axvline(target, color="grey", linestyle=":", linewidth=0.8)
        ax.plot(target, 1 - recall, "o", color="red", zorder=4)
        ax.annotate(f"recall {recall:.3f} at {target:g} FA/h", (target, 1 - recall),
                    textcoords="offset points", xytext=(4, 4 + 9 * i), fontsize=7)  # fmt: skip
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"false alarms per hour ({det.hours:.3g} h; none drawn at {floor:.3g})")
    ax.set_ylabel("miss rate")
    how = "calibrated per-keyword thresholds" if per_keyword else "one threshold for all keywords"
    ax.set_title(f"keyword detection on streams ({how})")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=6, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
