"""Keyword spotting on long streams, scored against the keywords' known times
(``seqrec-eval-stream``), torch-free.

The model runs once over each stream (:func:`seqrec.streaming.score_track`); every
threshold's events then come from :func:`seqrec.streaming.trigger`, the detector's own
rule, so each point of the sweep is exactly what ``detect()`` gives at that threshold.
An event is a hit when it names the word and is given (``Event.time``: its window's
end, or the end of its decision span) between the keyword's start and
``tolerance_seconds`` after its end; a keyword is hit at most once, by its earliest
such event; every other event is a false alarm. Quality is recall at
0.5, 1 and 5 false alarms per hour of audio, on one threshold for all keywords; the
lowest threshold that keeps to ``fa_per_hour`` is written beside the model, where
``detect(threshold=None)`` takes it.

The streams manifest: :mod:`seqrec.stream_manifest`.
"""

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from seqrec.detect_sidecar import sidecar_path
from seqrec.stream_manifest import (
    CONTEXTS,
    Keyword,
    Stream,
    false_alarm_context,
    read_streams,
)
from seqrec.streaming import (
    NON_KEYWORDS,
    Event,
    Track,
    clip_window_seconds,
    fired_windows,
    score_track,
    trigger,
)

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


def candidate_thresholds(tracks: Sequence[Track]) -> np.ndarray:
    """Every threshold at which some stream's events change (a window's best keyword
    score), the 0..1 grid, and one above every score (no events), ascending."""
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
) -> Det:
    """The hits and false alarms at each threshold (one for all keywords), from the
    windows that fire on each stream's track (:func:`~seqrec.streaming.fired_windows`,
    the events of :func:`~seqrec.streaming.trigger` and of the detector)."""
    column = {w: k for k, w in enumerate(columns)}
    hits = np.zeros((len(thresholds), len(columns)), np.int64)
    events = np.zeros_like(hits)  # per column, all the events naming its word
    for track, stream in zip(tracks, streams, strict=True):
        to_column = np.array([column.get(w, 0) for w in track.labels])  # never fire: 0
        for row, threshold in enumerate(thresholds):
            times, classes = fired_windows(
                track, float(threshold), refractory_seconds, decision_seconds
            )
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
) -> Det:
    """:func:`sweep` at every :func:`candidate_thresholds`, or when there are more than
    ``max_thresholds``, at that many spread out, then at every one between the lowest
    threshold that meets each of ``fa_targets`` and the threshold swept below it."""
    settings = (columns, refractory_seconds, tolerance_seconds, decision_seconds)
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


def evaluate_streams(
    model: Any,
    streams: str | Path,
    out: str | Path | None = None,
    fa_per_hour: float = 1.0,
    tolerance_seconds: float = 1.0,
    hop_seconds: float = 0.1,
    smooth_windows: int = 3,
    refractory_seconds: float = 1.0,
    decision_seconds: float = 0.0,
    window_seconds: float | None = None,
    batch_windows: int = 16,
    write_default: bool = True,
    max_thresholds: int = MAX_THRESHOLDS,
) -> dict[str, Any]:
    """Score ``model`` (an audio classifier from :func:`seqrec.load`) on the streams
    manifest ``streams``: run it once per stream, sweep the threshold, and choose the
    lowest threshold whose FA/h is at most ``fa_per_hour``. Writes ``det.csv``,
    ``det.png``, ``stream_metrics.json``, ``events.jsonl`` (at that threshold) and the
    detection sidecar into ``out`` (default: ``stream_eval/`` beside the model) and,
    with ``write_default``, the sidecar beside the model too. Returns the metrics."""
    if not fa_per_hour > 0 or not tolerance_seconds >= 0:
        raise ValueError(f"fa_per_hour must be > 0 and tolerance_seconds >= 0, got "
                         f"{fa_per_hour} and {tolerance_seconds}")  # fmt: skip
    source = str(model.source)
    entries = read_streams(streams, model.labels, int(model.sample_rate))
    # the window is fixed here, so that the sidecar of an earlier run cannot set it
    window_seconds = window_seconds or clip_window_seconds(model)
    tracks = [
        score_track(model, s.path, hop_seconds, window_seconds, smooth_windows, batch_windows)
        for s in tqdm(entries, desc="scoring streams", unit="stream")
    ]
    columns = (ALL, *(w for w in model.labels if w not in NON_KEYWORDS))
    targets = sorted({*FA_TARGETS, fa_per_hour})
    det = sweep_thresholds(tracks, entries, columns, refractory_seconds, tolerance_seconds,
                           targets, max_thresholds, decision_seconds)  # fmt: skip
    chosen = det.lowest_meeting(fa_per_hour)
    threshold = float(det.thresholds[chosen])
    matchings = [
        match_events(
            trigger(track, threshold, refractory_seconds, decision_seconds),
            s.keywords,
            tolerance_seconds,
        )
        for track, s in zip(tracks, entries, strict=True)
    ]
    detector = {
        "hop_seconds": hop_seconds,
        "window_seconds": window_seconds,
        "smooth_windows": smooth_windows,
        "refractory_seconds": refractory_seconds,
        "decision_seconds": decision_seconds,
    }
    recall_at = {f"{t:g}": det.recall_at(t) for t in targets}
    at_threshold = _operating_point(det, chosen, matchings)
    metrics = {
        "model": source,
        "streams": str(streams),
        "stream_count": len(entries),
        "hours": round(det.hours, 6),
        **detector,
        "tolerance_seconds": tolerance_seconds,
        "fa_per_hour_target": fa_per_hour,
        "threshold": threshold,
        "thresholds_swept": len(det.thresholds),
        "recall_at_fa_per_hour": recall_at,
        "at_threshold": at_threshold,
        "false_alarms_by_context": _false_alarm_contexts(entries, matchings),
        "keyword_peaks": peak_summary(keyword_peaks(tracks, entries, tolerance_seconds), threshold),
    }
    # what detect() reads (seqrec.detect_sidecar.read_sidecar), and where it came from
    chosen_settings = {
        "threshold": threshold,
        **detector,
        "fa_per_hour_target": fa_per_hour,
        "fa_per_hour": at_threshold[ALL]["fa_per_hour"],
        "recall": at_threshold[ALL]["recall"],
        "recall_at_fa_per_hour": {t: r[ALL] for t, r in recall_at.items()},
        **{k: metrics[k] for k in ("tolerance_seconds", "streams", "hours", "model")},
    }
    sidecar = sidecar_path(source)
    out = Path(out) if out is not None else Path(source).parent / "stream_eval"
    out.mkdir(parents=True, exist_ok=True)
    beside = [sidecar] if write_default and sidecar is not None else []
    for path in [out / (sidecar.name if sidecar else "model.detect.json"), *beside]:
        path.write_text(json.dumps(chosen_settings, indent=2) + "\n", encoding="utf-8")
    metrics["sidecar"] = str(sidecar) if beside else None
    metrics["out"] = str(out)
    write_det_csv(det, out / "det.csv")
    plot_det(det, recall_at, out / "det.png")
    _write_events(entries, matchings, out / "events.jsonl")
    (out / "stream_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", "utf-8")
    return metrics


def keyword_peaks(
    tracks: Sequence[Track], streams: Sequence[Stream], tolerance_seconds: float
) -> np.ndarray:
    """Per keyword of every stream, in order: the best smoothed score of its own word
    over the windows that end between its start and ``tolerance_seconds`` after its
    end (where an event of the immediate rule would hit it); -inf when no window does.
    A keyword whose peak is below a threshold cannot be hit at that threshold, so the
    share of peaks at or above it bounds the recall there, whatever the false alarms.

    >>> track = Track(("_silence_", "yes"), 10, 10, np.array([10, 15, 20, 30]),
    ...               np.array([[0.9, 0.1], [0.3, 0.7], [0.1, 0.9], [0.0, 1.0]]))
    >>> stream = Stream("s", Path("s.wav"), 3.0, (Keyword("yes", 0.9, 1.2),))
    >>> keyword_peaks([track], [stream], tolerance_seconds=0.5)
    array([0.7])
    """
    peaks = []
    for track, stream in zip(tracks, streams, strict=True):
        ends, index = track.ends, {label: i for i, label in enumerate(track.labels)}
        for keyword in stream.keywords:
            inside = (ends >= keyword.start - EDGE) & (
                ends <= keyword.end + tolerance_seconds + EDGE
            )
            scores = track.smoothed[inside, index[keyword.word]]
            peaks.append(scores.max(initial=-np.inf))
    return np.array(peaks, float)


def peak_summary(peaks: np.ndarray, threshold: float) -> dict[str, float | int | None]:
    """The keywords' peaks (:func:`keyword_peaks`): how many lie below ``threshold``,
    the recall ceiling that leaves, and their 10th, 20th and 50th percentiles.

    >>> peak_summary(np.array([0.2, 0.95, 0.99, 0.999]), 0.97)["below_threshold"]
    2
    """
    if peaks.size == 0:
        return {"keywords": 0, "below_threshold": 0, "recall_ceiling": None,
                "p10": None, "p20": None, "median": None}  # fmt: skip
    finite = np.where(np.isfinite(peaks), peaks, 0.0)
    p10, p20, median = np.percentile(finite, [10, 20, 50])
    below = int((peaks < threshold).sum())
    return {
        "keywords": int(peaks.size),
        "below_threshold": below,
        "recall_ceiling": round(1 - below / peaks.size, 6),
        "p10": round(float(p10), 6),
        "p20": round(float(p20), 6),
        "median": round(float(median), 6),
    }


def _false_alarm_contexts(
    streams: Sequence[Stream], matchings: Sequence[Matching]
) -> dict[str, int]:
    """The false alarms at the chosen threshold, counted by what they fell on."""
    counts = dict.fromkeys(CONTEXTS, 0)
    for stream, matching in zip(streams, matchings, strict=True):
        for event in matching.false_alarms:
            counts[false_alarm_context(event, stream)] += 1
    return counts


def _operating_point(det: Det, row: int, matchings: Sequence[Matching]) -> dict[str, dict]:
    """Per column at the chosen threshold: counts, recall, FA/h and latencies."""
    latencies: dict[str, list[float]] = {column: [] for column in det.columns}
    for matching in matchings:
        for keyword, event in matching.hits:
            latencies[keyword.word].append(event.time - keyword.end)
            latencies[ALL].append(event.time - keyword.end)
    recall = det.recall[row]
    return {
        column: {
            "keywords": int(det.keywords[k]),
            "hits": int(det.hits[row, k]),
            "misses": int(det.keywords[k] - det.hits[row, k]),
            "false_alarms": int(det.false_alarms[row, k]),
            "recall": None if det.keywords[k] == 0 else round(float(recall[k]), 6),
            "fa_per_hour": round(float(det.fa_per_hour[row, k]), 6),
            **latency_stats(latencies[column]),
        }
        for k, column in enumerate(det.columns)
    }


def write_det_csv(det: Det, path: Path) -> None:
    """One row per threshold and column: threshold, keyword (or "all"), miss_rate,
    fa_per_hour, recall, hits, false_alarms (rates empty for a word that never occurs)."""
    lines = ["threshold,keyword,miss_rate,fa_per_hour,recall,hits,false_alarms"]
    recall, fa = det.recall, det.fa_per_hour
    for t, threshold in enumerate(det.thresholds):
        for k, column in enumerate(det.columns):
            r = "" if np.isnan(recall[t, k]) else f"{recall[t, k]:.6f}"
            miss = "" if np.isnan(recall[t, k]) else f"{1 - recall[t, k]:.6f}"
            lines.append(f"{float(threshold)!r},{column},{miss},{fa[t, k]:.6g},{r},"
                         f"{det.hits[t, k]},{det.false_alarms[t, k]}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_det(det: Det, recall_at: dict[str, dict], path: Path) -> None:
    """Miss rate against false alarms per hour (log scale; none drawn at the left
    edge), overall and per keyword, with the recall at each FA/h target marked."""
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
    ax.set_title("keyword detection on streams (one threshold for all keywords)")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=6, ncol=2, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _write_events(streams: Sequence[Stream], matchings: Sequence[Matching], path: Path) -> None:
    """The events at the chosen threshold, one JSON line each, in each stream's order:
    the stream, the event, and for a hit its keyword and latency."""
    with path.open("w", encoding="utf-8") as f:
        for stream, matching in zip(streams, matchings, strict=True):
            found = {id(event): keyword for keyword, event in matching.hits}
            events = [e for _, e in matching.hits] + matching.false_alarms
            for event in sorted(events, key=lambda e: e.time):
                keyword = found.get(id(event))
                line = {"stream": stream.id, **event.as_dict(), "hit": keyword is not None}
                if keyword is None:
                    line["context"] = false_alarm_context(event, stream)
                else:
                    line["keyword"] = {"word": keyword.word, "start": keyword.start,
                                       "end": keyword.end}  # fmt: skip
                    line["latency"] = round(event.time - keyword.end, 3)
                f.write(json.dumps(line) + "\n")
