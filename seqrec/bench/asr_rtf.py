"""seqrec-bench-asr: real-time factor of a trained speech recogniser, from files.

    seqrec-bench-asr outputs/asr_synthetic/<run>/checkpoints/best.ckpt
    seqrec-bench-asr best.ckpt --manifest data/asr_synthetic/test.jsonl --threads 2 \\
        --lm-text data/asr_synthetic/lm_text.txt

The real-time factor (RTF) is processing seconds per second of audio. It has one
definition, :func:`measure_rtf`, which ``seqrec-bench`` uses for its ``asr_rtf``
figure too: every utterance of the manifest (the whole test set unless ``--limit``),
read from its file, resampled to the model's rate, run through the network and
decoded, as :meth:`~seqrec.api.Transcriber.transcribe` does it, in batches of
``--batch-size``. Each decoder (greedy, the ``asr_rtf`` figure; beam search with the
lexicon and the n-gram LM) is timed over the whole set in turn, and its WER and CER
are printed beside it, so a fast decoder cannot hide a broken one. The seconds spent
reading are printed too. The last line is one JSON object.
"""

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torchmetrics.text import CharErrorRate, WordErrorRate

from seqrec.api import Transcriber
from seqrec.data.manifest import read_manifest
from seqrec.text import normalize_text

GREEDY = {"_target_": "seqrec.core.ctc_search.GreedySearch"}


def measure_rtf(
    model: Transcriber,
    manifest: str | Path,
    decoders: dict[str, dict[str, Any]] | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Real-time factor of transcribing the utterances of ``manifest`` (the first
    ``limit``) from their files, with each of ``decoders`` (name: decoding config,
    as :meth:`~seqrec.api.Transcriber.set_decoding` takes; greedy alone by
    default).

    For each decoder: ``seconds`` from the first file read to the last transcript,
    ``rtf`` = ``seconds`` / ``audio_seconds`` (the audio read, at the model's rate),
    ``read_seconds`` (reading and resampling, inside ``seconds``), ``wer`` and
    ``cer``. Before each, its decoder transcribes the first utterances once,
    untimed: the first call allocates.
    """
    clock = clock or time.perf_counter  # looked up now, so that a test can stub it
    entries = read_manifest(manifest, target_key="text")[:limit]
    references = [normalize_text(e.text) for e in entries]
    rate = model.sample_rate

    def read(entry) -> torch.Tensor:  # as the model's reader reads it
        return model.reader(entry.path, entry.offset, entry.duration)[0]

    previous = model.decoding
    results: dict[str, Any] = {"utterances": len(entries)}
    try:
        for name, decoding in (decoders or {"greedy": GREEDY}).items():
            model.set_decoding(decoding)
            warm = [read(e) for e in entries[:batch_size]]
            model.transcribe_waveforms(warm, batch_size)
            start = clock()
            waveforms = [read(e) for e in entries]
            read_end = clock()
            texts = model.transcribe_waveforms(waveforms, batch_size)
            seconds = clock() - start
            audio = sum(w.shape[0] for w in waveforms) / rate
            results["audio_seconds"] = audio
            results[name] = {
                "seconds": seconds,
                "rtf": seconds / audio,
                "read_seconds": read_end - start,
                "wer": WordErrorRate()(texts, references).item(),
                "cer": CharErrorRate()(texts, references).item(),
            }
    finally:
        model.set_decoding(previous)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--manifest", default="data/asr_synthetic/test.jsonl")
    parser.add_argument(
        "--lm-text",
        default="data/asr_synthetic/lm_text.txt",
        help="text for the beam_lm decoder's n-gram LM and lexicon",
    )
    parser.add_argument("--lm-path", default=None, help="an ARPA/binary LM instead of --lm-text")
    parser.add_argument("--lexicon", default=None, help="words file for --lm-path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="use the first N utterances")
    parser.add_argument("--greedy-only", action="store_true", help="leave beam search out")
    args = parser.parse_args(argv)

    import seqrec

    torch.set_num_threads(args.threads)
    model = seqrec.load(args.checkpoint)
    if not isinstance(model, Transcriber):
        raise SystemExit(f"{args.checkpoint}: not a speech-to-text checkpoint")
    decoders = {"greedy": GREEDY}
    if not args.greedy_only:
        decoders["beam_lm"] = {
            "_target_": "seqrec.core.ctc_search.LexiconBeamSearch",
            "lm_path": args.lm_path,
            "lm_text": args.lm_text,
            "lexicon": args.lexicon,
        }
    results = measure_rtf(model, args.manifest, decoders, args.limit, args.batch_size)
    machine = f"{platform.processor() or platform.machine()}, {args.threads} threads"
    print(
        f"{results['utterances']} utterances, {results['audio_seconds']:.1f} s of audio; {machine}"
    )
    print(f"{'':10} {'seconds':>8} {'reading':>8} {'RTF':>8} {'WER':>7} {'CER':>7}")
    for name in decoders:
        r = results[name]
        print(
            f"{name:10} {r['seconds']:8.2f} {r['read_seconds']:8.2f} {r['rtf']:8.4f} {r['wer']:7.4f} {r['cer']:7.4f}"
        )
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "threads": args.threads,
                "utterances": results["utterances"],
                "audio_seconds": round(results["audio_seconds"], 2),
                "asr_rtf": round(results["greedy"]["rtf"], 5),
                **{f"rtf_{n}": round(results[n]["rtf"], 5) for n in decoders},
                **{f"wer_{n}": round(results[n]["wer"], 4) for n in decoders},
                **{f"cer_{n}": round(results[n]["cer"], 4) for n in decoders},
            }
        )
    )


if __name__ == "__main__":
    main()
