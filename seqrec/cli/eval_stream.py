"""seqrec-eval-stream: keyword spotting on long streams with keywords at known times:
recall at 0.5, 1 and 5 false alarms per hour, a DET curve, latencies, and the
threshold that keeps to ``fa_per_hour``, written beside the model for ``detect()``
and ``seqrec-detect`` to take by default (:mod:`seqrec.kws.evaluate`).

seqrec-eval-stream ckpt_path=<kws run>/checkpoints/best.ckpt streams=data/kws_streams/streams.jsonl
    seqrec-eval-stream ckpt_path=best.onnx streams=streams.jsonl fa_per_hour=0.5 out=eval_onnx
    seqrec-eval-stream ckpt_path=... streams=data/kws_streams/streams.jsonl \
        calibration=data/kws_streams_val/streams.jsonl     # per-keyword thresholds
"""

from typing import Any

import hydra
from omegaconf import DictConfig

from seqrec.cli import load_model
from seqrec.config import conf_dir, register_resolvers
from seqrec.kws.settings import SETTINGS, DetectorSettings

register_resolvers()

# the options of seqrec.kws.evaluate.evaluate_streams that the config sets besides the
# detector's settings (all but the threshold, which it chooses: WINDOWING)
WINDOWING = tuple(name for name in SETTINGS if name != "threshold")
OPTIONS = (
    "out",
    "fa_per_hour",
    "tolerance_seconds",
    "batch_windows",
    "write_default",
    "calibration",
    "calibration_rank",
)


def eval_stream(cfg: DictConfig) -> dict[str, Any]:
    """Load ``cfg.ckpt_path``, score it on ``cfg.streams``, print the table; the metrics."""
    from seqrec.core.waveform import AudioError
    from seqrec.kws.evaluate import evaluate_streams
    from seqrec.kws.streams_manifest import StreamManifestError

    model = load_model(cfg)
    if getattr(model, "kind", None) != "classifier" or model.modality != "audio":
        raise SystemExit(
            f"seqrec-eval-stream: {cfg.ckpt_path} is a {model.modality} {model.kind}; "
            f"stream evaluation needs a voice-commands classifier"
        )
    try:
        settings = DetectorSettings(**{key: cfg[key] for key in WINDOWING})
        options = {key: cfg[key] for key in OPTIONS}
        metrics = evaluate_streams(model, cfg.streams, settings=settings, **options)
    except (StreamManifestError, AudioError, ValueError) as e:
        raise SystemExit(f"seqrec-eval-stream: {e}") from None
    print(format_table(metrics))
    print(f"wrote {metrics['out']}/ (det.csv, det.png, stream_metrics.json, events.jsonl)")
    if metrics["sidecar"]:
        print(f"wrote {metrics['sidecar']}: detect() and seqrec-detect use this threshold")
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    """The metrics of :func:`seqrec.kws.evaluate.evaluate_streams` as a table to read:
    per keyword and overall, recall at each FA/h target, and at the chosen threshold
    the counts and latencies (seconds from the keyword's end to the event)."""
    targets = list(metrics["recall_at_fa_per_hour"])
    at = metrics["at_threshold"]
    overall, calibration = at["all"], metrics.get("calibration")

    def cell(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    recall_heads = "".join(f"{'R@' + t + 'FA/h':>11}" for t in targets)
    rows = [f"{'keyword':<12}{'keywords':>9}{'hits':>6}{'FA':>6}{'recall':>8}{recall_heads}"
            f"{'latency med':>13}{'p90':>7}"]  # fmt: skip
    for column, point in at.items():
        recalls = "".join(
            f"{cell(metrics['recall_at_fa_per_hour'][t][column]):>11}" for t in targets
        )
        rows.append(f"{column:<12}{point['keywords']:>9}{point['hits']:>6}"
                    f"{point['false_alarms']:>6}{cell(point['recall']):>8}{recalls}"
                    f"{cell(point['latency_median'], '.2f'):>13}"
                    f"{cell(point['latency_p90'], '.2f'):>7}")  # fmt: skip
    return "\n".join([
        f"{metrics['stream_count']} streams, {metrics['hours']:.3f} h of audio, "
        f"{overall['keywords']} keywords; a hit fires from the word's start to "
        f"{metrics['tolerance_seconds']:g} s after its end",
        f"{'reference threshold' if calibration else 'threshold'} "
        f"{metrics['threshold']:.6g}: the lowest with at most "
        f"{metrics['fa_per_hour_target']:g} false alarms per hour (FA/h); at it "
        f"{overall['fa_per_hour']:.3g} FA/h, recall {cell(overall['recall'])}, and the "
        f"counts and latencies (seconds after the word's end) below",
        *_calibration_lines(metrics),
        "",
        *rows,
        "",
        "false alarms by what their window overlaps: " + ", ".join(
            f"{context} {count}" for context, count in metrics["false_alarms_by_context"].items()
        ),
        _peaks_line(metrics["keyword_peaks"], metrics["threshold"]),
        *_breakdown_lines(metrics.get("recall_by_keyword", {})),
    ])  # fmt: skip


def _calibration_lines(metrics: dict[str, Any]) -> list[str]:
    calibration = metrics.get("calibration")
    if not calibration:
        return []
    thresholds = metrics["keyword_thresholds"]
    return [
        f"per-keyword thresholds calibrated on {calibration['streams']} (the keywords' "
        f"impostor scores of rank {calibration['rank']} lined up): "
        + ", ".join(f"{word} {t:.6g}" for word, t in thresholds.items())
    ]


def _breakdown_lines(breakdown: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    names = {"length_seconds": "the keyword's length", "snr_db": "its SNR in the stream"}
    return [
        f"recall at the threshold by {names.get(kind, kind)}: " + ", ".join(
            f"{key} {cell['recall']:.3f} ({cell['keywords']})" for key, cell in bins.items()
        )
        for kind, bins in breakdown.items()
    ]  # fmt: skip


def _peaks_line(peaks: dict[str, Any], threshold: float) -> str:
    if not peaks["keywords"]:
        return "no keywords: no peak scores"
    return (
        f"the right word's best score near each keyword: below the threshold for "
        f"{peaks['below_threshold']} of {peaks['keywords']} keywords (recall ceiling "
        f"{peaks['recall_ceiling']:.3f} at {threshold:.6g}); 10th / 20th / 50th "
        f"percentile {peaks['p10']:.3f} / {peaks['p20']:.3f} / {peaks['median']:.3f}"
        + _rivals_text(peaks.get("below_by_rival"), peaks.get("below_outscored"))
    )


def _rivals_text(by_rival: dict[str, int] | None, outscored: int | None) -> str:
    if not by_rival:
        return ""
    heard = ", ".join(f"{label} {count}" for label, count in by_rival.items())
    return (
        f"\nthe other label that scores best where those keywords peak: {heard}; "
        f"it scores above the keyword's own word for {outscored} of them"
    )


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="eval_stream")
def main(cfg: DictConfig) -> None:
    eval_stream(cfg)


if __name__ == "__main__":
    main()
