"""Keyword spotting on long streams, scored against the keywords' known times
(``seqrec-eval-stream``), torch-free.

The model runs once over each stream (:func:`seqrec.kws.detector.score_track`); every
threshold's events then come from :func:`seqrec.kws.detector.trigger`, the detector's own
rule, so each point of the sweep (:mod:`seqrec.kws.det`) is exactly what
``detect()`` gives at that threshold. Quality is recall at 0.5, 1 and 5 false alarms
per hour of audio, on one threshold for all keywords, or with ``calibration`` (streams
of other voices) on per-keyword thresholds (:mod:`seqrec.kws.calibration`); the
lowest threshold that keeps to ``fa_per_hour`` is written beside the model, where
``detect(threshold=None)`` takes it.

The streams manifest: :mod:`seqrec.kws.streams_manifest`.
"""

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from seqrec.kws.calibration import RANK, calibrate
from seqrec.kws.det import (
    ALL,
    EDGE,
    FA_TARGETS,
    MAX_THRESHOLDS,
    Det,
    Matching,
    latency_stats,
    match_events,
    plot_det,
    sweep_thresholds,
    write_det_csv,
)
from seqrec.kws.detector import NON_KEYWORDS, Track, clip_window_seconds, score_track, trigger
from seqrec.kws.settings import DetectorSettings, sidecar_path
from seqrec.kws.streams_manifest import CONTEXTS, Stream, false_alarm_context, read_streams


def evaluate_streams(
    model: Any,
    streams: str | Path,
    out: str | Path | None = None,
    fa_per_hour: float = 1.0,
    tolerance_seconds: float = 1.0,
    settings: DetectorSettings | None = None,
    batch_windows: int = 16,
    write_default: bool = True,
    max_thresholds: int = MAX_THRESHOLDS,
    calibration: str | Path | None = None,
    calibration_rank: int = RANK,
) -> dict[str, Any]:
    """Score ``model`` (an audio classifier from :func:`seqrec.load`) on the streams
    manifest ``streams``: run it once per stream, sweep the threshold, and choose the
    lowest threshold whose FA/h is at most ``fa_per_hour``. With ``calibration`` (a
    streams manifest of other voices than ``streams``), the threshold swept is the
    reference threshold of per-keyword thresholds calibrated there
    (:func:`seqrec.kws.calibration.calibrate` at ``calibration_rank``). Writes
    ``det.csv``, ``det.png``, ``stream_metrics.json``, ``events.jsonl`` (at that
    threshold) and the detection sidecar into ``out`` (default: ``stream_eval/`` beside
    the model) and, with ``write_default``, the sidecar beside the model too. Returns
    the metrics. ``settings``: the detector's (default: :class:`DetectorSettings`'
    defaults); its threshold is not used, since this chooses one."""
    if not fa_per_hour > 0 or not tolerance_seconds >= 0:
        raise ValueError(f"fa_per_hour must be > 0 and tolerance_seconds >= 0, got "
                         f"{fa_per_hour} and {tolerance_seconds}")  # fmt: skip
    if calibration is not None and Path(calibration).resolve() == Path(streams).resolve():
        raise ValueError(f"{calibration}: the calibration streams are the test streams; "
                         "calibrate on streams of other voices (seqrec-streams split=val)")  # fmt: skip
    source = str(model.source)
    entries = read_streams(streams, model.labels, int(model.sample_rate))
    tuning = []
    if calibration is not None:
        tuning = read_streams(calibration, model.labels, int(model.sample_rate))
        shared = sorted({s.path.resolve() for s in tuning} & {s.path.resolve() for s in entries})
        if shared:
            raise ValueError(f"{calibration}: {len(shared)} of its streams are test streams "
                             f"(first {shared[0]}); calibrate on streams of other voices")  # fmt: skip
    settings = settings or DetectorSettings()
    # the window is fixed here, so that the sidecar of an earlier run cannot set it
    settings = replace(
        settings, window_seconds=settings.window_seconds or clip_window_seconds(model)
    )
    refractory_seconds, decision_seconds = settings.refractory_seconds, settings.decision_seconds
    scoring = (
        settings.hop_seconds,
        settings.window_seconds,
        settings.smooth_windows,
        batch_windows,
    )
    keyword_calibration = None
    if calibration is not None:
        tuning_tracks = [
            score_track(model, s.path, *scoring)
            for s in tqdm(tuning, desc="scoring calibration streams", unit="stream")
        ]
        keyword_calibration = calibrate(tuning_tracks, tuning, calibration_rank, str(calibration))
    tracks = [
        score_track(model, s.path, *scoring)
        for s in tqdm(entries, desc="scoring streams", unit="stream")
    ]
    columns = (ALL, *(w for w in model.labels if w not in NON_KEYWORDS))
    targets = sorted({*FA_TARGETS, fa_per_hour})
    det = sweep_thresholds(tracks, entries, columns, refractory_seconds, tolerance_seconds,
                           targets, max_thresholds, decision_seconds, keyword_calibration)  # fmt: skip
    chosen = det.lowest_meeting(fa_per_hour)
    threshold = float(det.thresholds[chosen])
    limits = keyword_calibration.thresholds(threshold) if keyword_calibration else threshold
    matchings = [
        match_events(
            trigger(track, limits, refractory_seconds, decision_seconds),
            s.keywords,
            tolerance_seconds,
        )
        for track, s in zip(tracks, entries, strict=True)
    ]
    detector = settings.windowing()
    recall_at = {f"{t:g}": det.recall_at(t) for t in targets}
    # on the calibrated scale with a calibration, where the reference threshold applies
    peak_tracks = (
        [keyword_calibration.calibrated(t) for t in tracks] if keyword_calibration else tracks
    )
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
        "keyword_thresholds": limits if keyword_calibration else None,
        "calibration": keyword_calibration.as_dict() if keyword_calibration else None,
        "thresholds_swept": len(det.thresholds),
        "recall_at_fa_per_hour": recall_at,
        "at_threshold": at_threshold,
        "false_alarms_by_context": _false_alarm_contexts(entries, matchings),
        "recall_by_keyword": recall_breakdown(entries, matchings),
        "keyword_peaks": peak_summary(
            keyword_peaks(peak_tracks, entries, tolerance_seconds),
            threshold,
            keyword_rivals(peak_tracks, entries, tolerance_seconds),
        ),
    }
    # what detect() reads (seqrec.kws.settings.read_sidecar), and where it came from
    chosen_settings = {
        "threshold": limits,
        **detector,
        "fa_per_hour_target": fa_per_hour,
        "fa_per_hour": at_threshold[ALL]["fa_per_hour"],
        "recall": at_threshold[ALL]["recall"],
        "recall_at_fa_per_hour": {t: r[ALL] for t, r in recall_at.items()},
        **{
            k: metrics[k] for k in ("tolerance_seconds", "streams", "hours", "model", "calibration")
        },
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
    plot_det(det, recall_at, out / "det.png", per_keyword=keyword_calibration is not None)
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

    >>> from seqrec.kws.streams_manifest import Keyword
    >>> track = Track(("_silence_", "yes"), 10, 10, np.array([10, 15, 20, 30]),
    ...               np.array([[0.9, 0.1], [0.3, 0.7], [0.1, 0.9], [0.0, 1.0]]))
    >>> stream = Stream("s", Path("s.wav"), 3.0, (Keyword("yes", 0.9, 1.2),))
    >>> keyword_peaks([track], [stream], tolerance_seconds=0.5)
    array([0.7])
    """
    return np.array(
        [scores[:, own].max(initial=-np.inf) for scores, own, _ in _near_keywords(
            tracks, streams, tolerance_seconds)],
        float,
    )  # fmt: skip


class Rival(NamedTuple):
    """Where a keyword's own word peaks: the other label that scores best there, its
    score, and the own word's."""

    label: str
    score: float
    own: float

    @property
    def outscores(self) -> bool:
        """Whether the window is classified as the rival, not as the keyword."""
        return self.score > self.own


def keyword_rivals(
    tracks: Sequence[Track], streams: Sequence[Stream], tolerance_seconds: float
) -> list[Rival | None]:
    """Per keyword, as :func:`keyword_peaks` orders them: the other label with the best
    smoothed score in the window where the keyword's own word peaks (what the model
    hears instead, and whether it scores above the keyword there); None when no window
    is near it.

    >>> from seqrec.kws.streams_manifest import Keyword
    >>> track = Track(("_silence_", "yes", "no"), 10, 10, np.array([10, 15, 20]),
    ...               np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.5, 0.2, 0.3]]))
    >>> stream = Stream("s", Path("s.wav"), 3.0, (Keyword("yes", 0.9, 1.2),))
    >>> [(r.label, r.outscores) for r in keyword_rivals([track], [stream], 0.5)]
    [('no', True)]
    """
    rivals: list[Rival | None] = []
    for scores, own, labels in _near_keywords(tracks, streams, tolerance_seconds):
        if scores.shape[0] == 0:
            rivals.append(None)
            continue
        at_peak = scores[int(np.argmax(scores[:, own]))]
        others = at_peak.copy()
        others[own] = -np.inf
        best = int(np.argmax(others))
        rivals.append(Rival(labels[best], float(at_peak[best]), float(at_peak[own])))
    return rivals


def _near_keywords(
    tracks: Sequence[Track], streams: Sequence[Stream], tolerance_seconds: float
) -> Iterator[tuple[np.ndarray, int, tuple[str, ...]]]:
    """Per keyword of every stream, in order: the smoothed scores (n, C) of the windows
    that end between its start and ``tolerance_seconds`` after its end, the column of
    its word, and the labels."""
    for track, stream in zip(tracks, streams, strict=True):
        ends, index = track.ends, {label: i for i, label in enumerate(track.labels)}
        for keyword in stream.keywords:
            inside = (ends >= keyword.start - EDGE) & (
                ends <= keyword.end + tolerance_seconds + EDGE
            )
            yield track.smoothed[inside], index[keyword.word], track.labels


def peak_summary(
    peaks: np.ndarray, threshold: float, rivals: Sequence[Rival | None] | None = None
) -> dict[str, Any]:
    """The keywords' peaks (:func:`keyword_peaks`): how many lie below ``threshold``,
    the recall ceiling that leaves, and their 10th, 20th and 50th percentiles; with
    ``rivals`` (:func:`keyword_rivals`), how often each label is what the model hears
    instead of a keyword below the threshold (``below_by_rival``, most often first),
    and how many of those keywords it scores above the keyword's own word where that
    word peaks (``below_outscored``: heard as something else, not merely unsure).

    >>> peak_summary(np.array([0.2, 0.95, 0.99, 0.999]), 0.97)["below_threshold"]
    2
    """
    if peaks.size == 0:
        return {"keywords": 0, "below_threshold": 0, "recall_ceiling": None,
                "p10": None, "p20": None, "median": None}  # fmt: skip
    finite = np.where(np.isfinite(peaks), peaks, 0.0)
    p10, p20, median = np.percentile(finite, [10, 20, 50])
    below = int((peaks < threshold).sum())
    by_rival = {}
    if rivals is not None:
        below_rivals = [r for r, p in zip(rivals, peaks, strict=True) if p < threshold]
        missed = Counter(str(r.label if r else None) for r in below_rivals)
        by_rival = {
            "below_by_rival": dict(missed.most_common()),
            "below_outscored": sum(bool(r and r.outscores) for r in below_rivals),
        }
    return {
        "keywords": int(peaks.size),
        "below_threshold": below,
        "recall_ceiling": round(1 - below / peaks.size, 6),
        "p10": round(float(p10), 6),
        "p20": round(float(p20), 6),
        "median": round(float(median), 6),
        **by_rival,
    }


# bins (lower edges) of the recall breakdown at the chosen threshold
LENGTH_BINS = (0.0, 0.25, 0.35, 0.5)  # the keyword's length, seconds
SNR_BINS = (-np.inf, 8.0, 12.0, 16.0, 20.0, 25.0)  # dB
# the noise a keyword's SNR is measured against: from 0.9 s to 0.2 s before it
NOISE_SPAN = (0.9, 0.2)


def keyword_snr_db(audio: sf.SoundFile, start: float, end: float) -> float | None:
    """A keyword's SNR as the stream holds it: the RMS of its samples against that of
    the 0.7 s of background from 0.9 s to 0.2 s before it (the stream layouts keep other
    speech 2 s or more from a keyword); None when the keyword starts too early for
    that, or the background is digital silence."""
    rate = audio.samplerate
    lead = round((start - NOISE_SPAN[0]) * rate)
    if lead < 0:
        return None
    audio.seek(lead)
    noise = audio.read(round((NOISE_SPAN[0] - NOISE_SPAN[1]) * rate), dtype="float64")
    audio.seek(round(start * rate))
    word = audio.read(max(1, round((end - start) * rate)), dtype="float64")
    noise_rms = float(np.sqrt(np.mean(noise**2))) if noise.size else 0.0
    if noise_rms == 0.0 or word.size == 0:
        return None
    return 20.0 * float(np.log10(np.sqrt(np.mean(word**2)) / noise_rms + 1e-12))


def recall_breakdown(
    streams: Sequence[Stream], matchings: Sequence[Matching]
) -> dict[str, dict[str, dict[str, Any]]]:
    """At the chosen threshold, the keywords and their recall by the keyword's length
    (``LENGTH_BINS``) and by its SNR in the stream (:func:`keyword_snr_db`,
    ``SNR_BINS``; keywords whose SNR cannot be measured are counted under
    ``"unmeasured"``). Bins without keywords are left out."""
    names = {"length_seconds": _bin_names(LENGTH_BINS, "s"),
             "snr_db": [*_bin_names(SNR_BINS, " dB"), "unmeasured"]}  # fmt: skip
    counts = {kind: {name: [0, 0] for name in bins} for kind, bins in names.items()}
    for stream, matching in zip(streams, matchings, strict=True):
        hits = {keyword for keyword, _ in matching.hits}
        with sf.SoundFile(stream.path) as audio:
            for keyword in stream.keywords:
                snr = keyword_snr_db(audio, keyword.start, keyword.end)
                length = _bin(keyword.end - keyword.start, LENGTH_BINS)
                where = {"length_seconds": names["length_seconds"][length],
                         "snr_db": "unmeasured" if snr is None
                         else names["snr_db"][_bin(snr, SNR_BINS)]}  # fmt: skip
                for kind, name in where.items():
                    counts[kind][name][0] += 1
                    counts[kind][name][1] += keyword in hits
    return {
        kind: {
            name: {"keywords": total, "recall": round(found / total, 6)}
            for name, (total, found) in bins.items()
            if total
        }
        for kind, bins in counts.items()
    }


def _bin_names(edges: Sequence[float], unit: str) -> list[str]:
    """``[a, b)`` bins named "a-b<unit>", the first "<b" when it is open, the last ">=a".

    >>> _bin_names((-np.inf, 8.0, 12.0), " dB")
    ['<8 dB', '8-12 dB', '>=12 dB']
    """
    names = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        if high is None:
            names.append(f">={low:g}{unit}")
        elif np.isinf(low):
            names.append(f"<{high:g}{unit}")
        else:
            names.append(f"{low:g}-{high:g}{unit}")
    return names


def _bin(value: float, edges: Sequence[float]) -> int:
    """The index of the bin ``[edges[i], edges[i + 1])`` that holds ``value`` (the first
    for a value below every edge).

    >>> _bin(0.3, (0.0, 0.25, 0.35)), _bin(7.9, (-np.inf, 8.0)), _bin(9.0, (-np.inf, 8.0))
    (1, 0, 1)
    """
    return max(int(np.searchsorted(np.asarray(edges), value, side="right")) - 1, 0)


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
