"""seqrec-bench-asr: real-time factor of a trained speech recogniser on CPU.

    seqrec-bench-asr outputs/asr_synthetic/<run>/checkpoints/best.ckpt
    seqrec-bench-asr best.ckpt --manifest data/asr_synthetic/test.jsonl --threads 2 \\
        --lm-text data/asr_synthetic/lm_text.txt

The real-time factor is processing seconds per second of audio. The audio is read
into memory first (file reading is not counted). Then, in this one run, on the same
batches:

- the network (features, subsampling, BiRNN, CTC head) runs once over every batch,
  timed;
- each decoder (greedy; beam search with the lexicon and the n-gram LM) decodes the
  same log-probabilities, timed.

RTF of a decoder = (network seconds + its decoding seconds) / audio seconds. WER and
CER of each are printed beside it, so a fast decoder cannot hide a broken one. The
last line is one JSON object.
"""

import argparse
import json
import platform
import time

import torch
from torchmetrics.text import CharErrorRate, WordErrorRate

import seqrec
from seqrec.data.audio import load_audio
from seqrec.data.batch import pad_sequences
from seqrec.data.manifest import read_manifest
from seqrec.decoding import CTCDecoder
from seqrec.inference import Transcriber
from seqrec.text import normalize_text


def measure(
    model: Transcriber,
    waveforms: list[torch.Tensor],
    references: list[str],
    decoders: dict[str, CTCDecoder],
    batch_size: int,
) -> dict[str, dict[str, float]]:
    order = sorted(range(len(waveforms)), key=lambda i: waveforms[i].shape[0])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.inference_mode():  # warm-up: the first call allocates
        padded, lengths = pad_sequences([waveforms[i] for i in batches[0]])
        model.model(padded, lengths)
        outputs, network = [], 0.0
        for batch in batches:
            padded, lengths = pad_sequences([waveforms[i] for i in batch])
            start = time.perf_counter()
            log_probs, out_lengths = model.model(padded, lengths)
            network += time.perf_counter() - start
            outputs.append((batch, log_probs.float(), out_lengths))
    audio = sum(w.shape[0] for w in waveforms) / model.sample_rate
    results = {"network": {"seconds": network, "rtf": network / audio}}
    for name, decoder in decoders.items():
        wer, cer, seconds = WordErrorRate(), CharErrorRate(), 0.0
        for batch, log_probs, out_lengths in outputs:
            start = time.perf_counter()
            texts = decoder(log_probs, out_lengths)
            seconds += time.perf_counter() - start
            refs = [references[i] for i in batch]
            wer.update(texts, refs)
            cer.update(texts, refs)
        results[name] = {"seconds": network + seconds, "rtf": (network + seconds) / audio,
                         "wer": wer.compute().item(), "cer": cer.compute().item()}  # fmt: skip
    results["audio_seconds"] = audio
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--manifest", default="data/asr_synthetic/test.jsonl")
    parser.add_argument("--lm-text", default="data/asr_synthetic/lm_text.txt",
                        help="text for the beam_lm decoder's n-gram LM and lexicon")  # fmt: skip
    parser.add_argument("--lm-path", default=None, help="an ARPA/binary LM instead of --lm-text")
    parser.add_argument("--lexicon", default=None, help="words file for --lm-path")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="use the first N utterances")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = seqrec.load(args.checkpoint)
    if not isinstance(model, Transcriber):
        raise SystemExit(f"{args.checkpoint}: not a speech-to-text checkpoint")
    entries = read_manifest(args.manifest, target_key="text")[: args.limit]
    waveforms = [load_audio(e.path, model.sample_rate, e.offset, e.duration) for e in entries]
    references = [normalize_text(e.text) for e in entries]
    decoders = {
        "greedy": CTCDecoder(model.tokenizer, "greedy"),
        "beam_lm": CTCDecoder(
            model.tokenizer,
            "beam_lm",
            lm_path=args.lm_path,
            lm_text=args.lm_text,
            lexicon=args.lexicon,
        ),
    }
    results = measure(model, waveforms, references, decoders, args.batch_size)
    machine = f"{platform.processor() or platform.machine()}, {args.threads} threads"
    print(f"{len(entries)} utterances, {results['audio_seconds']:.1f} s of audio; {machine}")
    print(f"{'':10} {'seconds':>8} {'RTF':>8} {'WER':>7} {'CER':>7}")
    for name in ("network", *decoders):
        r = results[name]
        print(f"{name:10} {r['seconds']:8.2f} {r['rtf']:8.4f} {r.get('wer', float('nan')):7.4f} "
              f"{r.get('cer', float('nan')):7.4f}")  # fmt: skip
    print(json.dumps({"checkpoint": args.checkpoint, "threads": args.threads,
                      "audio_seconds": round(results["audio_seconds"], 2),
                      **{f"rtf_{n}": round(results[n]["rtf"], 5) for n in decoders},
                      **{f"wer_{n}": round(results[n]["wer"], 4) for n in decoders},
                      **{f"cer_{n}": round(results[n]["cer"], 4) for n in decoders}}))  # fmt: skip


if __name__ == "__main__":
    main()
