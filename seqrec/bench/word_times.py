"""seqrec-bench-word-times: how close a speech recogniser's word times come to where
eSpeak NG spoke the words.

    seqrec-bench-word-times outputs/asr_synthetic/<run>/checkpoints/best.ckpt
    seqrec-bench-word-times best.ckpt --corpus data/asr_synthetic --split test --limit 300

A synthetic corpus records its settings in ``corpus.json``. From them this command
renders the first ``--limit`` utterances of a split again: the same sentences,
voices, speaking styles and acoustics as the corpus's files (the waveforms can
differ from them by some milliseconds; see :mod:`seqrec.synth.spoken`), and with
each the sample at which eSpeak NG began every word. It transcribes them with
each decoder (:meth:`~seqrec.api.Transcriber.transcripts`). A minimum-edit
alignment of reference and transcript then pairs every correctly recognised word
with its reference, and the command compares the start the model gives the word
with the start eSpeak NG reports. It prints a table, then one JSON line.
"""

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
import torchaudio
from tqdm import tqdm

import seqrec
from seqrec.api import Transcriber
from seqrec.core.results import Transcript
from seqrec.data.prepared import is_prepared
from seqrec.synth.asr import SyntheticSpeech, speak
from seqrec.synth.espeak import ESpeak, split_variants
from seqrec.text import align_words


def render_split(
    corpus_dir: Path, split: str, limit: int
) -> tuple[list[torch.Tensor], list[str], list[list[float | None]]]:
    """The first ``limit`` utterances of ``split`` as the corpus in ``corpus_dir``
    renders them: waveforms, texts, and each word's start in seconds (None where
    eSpeak NG reported none; :func:`~seqrec.synth.asr.speak`)."""
    marker = corpus_dir / "corpus.json"
    if not marker.is_file():
        raise SystemExit(f"{marker} not found: give --corpus a synthetic speech corpus folder")
    settings = json.loads(marker.read_text())
    for key in ("synth_version", "grammar"):
        settings.pop(key, None)
    corpus = SyntheticSpeech(root=str(corpus_dir), **settings)
    if not is_prepared(marker, corpus.settings()):
        raise SystemExit(
            f"{marker}: made by another version of the synthesis or grammar; "
            "its sentences cannot be rendered again"
        )
    texts = corpus.texts()[split][:limit]
    voices = split_variants(corpus.seed, corpus.val_voices, corpus.test_voices)[split]
    tts = ESpeak()
    resample = torchaudio.transforms.Resample(tts.sample_rate, corpus.sample_rate)
    waveforms, starts = [], []
    jobs = corpus.jobs(split, texts, voices)
    for _, _, text, voice, seed in tqdm(jobs, desc=f"rendering {split} utterances", unit="utt"):
        rng = np.random.default_rng(seed)
        audio, _, word_starts = speak(corpus, tts, resample, text, voice, rng)
        waveforms.append(torch.from_numpy(audio))
        starts.append(word_starts)
    return waveforms, texts, starts


def start_errors(
    transcripts: list[Transcript], texts: list[str], starts: list[list[float | None]]
) -> tuple[list[float], int, int]:
    """Model start minus reference start for every correctly recognised word that has
    a reference start; the number of reference words; and how many of those were
    recognised correctly."""
    errors, total, correct = [], 0, 0
    for transcript, text, reference_starts in zip(transcripts, texts, starts, strict=True):
        reference = text.split()
        total += len(reference)
        i = j = 0  # positions in the reference and in the transcript's words
        for ref_word, hyp_word in align_words(reference, [w.word for w in transcript.words]):
            if ref_word is not None and ref_word == hyp_word:
                correct += 1
                if reference_starts[i] is not None:
                    errors.append(transcript.words[j].start - reference_starts[i])
            i += ref_word is not None
            j += hyp_word is not None
    return errors, total, correct


def summarise(
    errors: list[float], total: int, correct: int, frame_seconds: float
) -> dict[str, float | None]:
    """Counts, and statistics of the start errors (None when no word was timed)."""
    counts = {"words": total, "correct": correct, "timed": len(errors)}
    if not errors:
        keys = (
            "mean_error_s",
            "mean_abs_error_s",
            "median_abs_error_s",
            "p90_abs_error_s",
            "within_1_frame",
            "within_100ms",
        )
        return {**counts, **dict.fromkeys(keys)}
    e = np.asarray(errors)
    return {
        **counts,
        "mean_error_s": float(e.mean()),
        "mean_abs_error_s": float(np.abs(e).mean()),
        "median_abs_error_s": float(np.median(np.abs(e))),
        "p90_abs_error_s": float(np.quantile(np.abs(e), 0.9)),
        "within_1_frame": float(np.mean(np.abs(e) <= frame_seconds)),
        "within_100ms": float(np.mean(np.abs(e) <= 0.1)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--corpus", default="data/asr_synthetic", type=Path)
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, default=300, help="render the first N utterances")
    parser.add_argument(
        "--lm-text",
        default=None,
        help="text for the beam_lm decoder (default: the corpus's lm_text.txt)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = seqrec.load(args.checkpoint)
    if not isinstance(model, Transcriber):
        raise SystemExit(f"{args.checkpoint}: not a speech-to-text checkpoint")
    waveforms, texts, starts = render_split(args.corpus, args.split, args.limit)
    lm_text = args.lm_text or str(args.corpus / "lm_text.txt")
    decoders = {
        "greedy": {"_target_": "seqrec.core.ctc_search.GreedySearch"},
        "beam_lm": {"_target_": "seqrec.core.ctc_search.LexiconBeamSearch", "lm_text": lm_text},
    }
    results = {}
    for name, decoding in decoders.items():
        model.set_decoding(decoding)
        transcripts = model.transcripts(waveforms, args.batch_size, with_times=True)
        results[name] = summarise(*start_errors(transcripts, texts, starts), model.frame_seconds)
    audio = sum(w.shape[0] for w in waveforms) / model.sample_rate
    print(
        f"{len(texts)} {args.split} utterances, {audio:.1f} s of audio; "
        f"output frames of {model.frame_seconds * 1000:.0f} ms; "
        f"{platform.processor() or platform.machine()}"
    )
    print("start of each correctly recognised word minus eSpeak NG's start for it, seconds:")
    print(
        f"{'':8} {'words':>6} {'correct':>7} {'timed':>6} {'mean':>7} {'|mean|':>7} "
        f"{'|median|':>8} {'|p90|':>6} {'<=1 frame':>9} {'<=100 ms':>8}"
    )
    for name, r in results.items():
        print(f"{name:8} {r['words']:6d} {r['correct']:7d} {r['timed']:6d}", end="")
        if r["timed"]:
            print(
                f" {r['mean_error_s']:+7.3f} {r['mean_abs_error_s']:7.3f} "
                f"{r['median_abs_error_s']:8.3f} {r['p90_abs_error_s']:6.3f} "
                f"{r['within_1_frame']:9.3f} {r['within_100ms']:8.3f}"
            )
        else:
            print("  (no word recognised correctly)")
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "utterances": len(texts),
                "frame_seconds": model.frame_seconds,
                **{
                    f"{n}_{k}": v if v is None else round(v, 4)
                    for n, r in results.items()
                    for k, v in r.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
