"""seqrec-validate: check manifests and their media, reporting every problem at once.

    seqrec-validate data/kws_synthetic/*.jsonl --checkpoint outputs/.../best.ckpt
    seqrec-validate train.jsonl --labels yes,no,up --sample-rates 16000 --channels 1

Each problem is printed as ``manifest:line: reason: message``. The exit code is 1
when anything is wrong, 0 when everything passed.
"""

import argparse
import sys
from collections import Counter

from seqrec.inference.checkpoint import CheckpointError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seqrec-validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("manifests", nargs="+", help="JSONL manifests to check")
    parser.add_argument(
        "--labels", help="comma-separated label set; labels outside it are reported"
    )
    parser.add_argument(
        "--checkpoint",
        help="take the label set (classifier) or the tokenizer's characters (speech-to-text) "
        "from a trained seqrec checkpoint; audio at other sample rates is resampled on "
        "reading, so use --sample-rates to require one",
    )
    parser.add_argument(
        "--charset",
        help="characters allowed in `text` after seqrec's text normalisation (ASR manifests)",
    )
    parser.add_argument(
        "--sample-rates", help="comma-separated allowed sample rates (default: any)"
    )
    parser.add_argument("--channels", help="comma-separated allowed channel counts (default: any)")
    parser.add_argument("--max-duration", type=float, help="longest allowed entry in seconds")
    parser.add_argument(
        "--duration-tolerance", type=float, default=0.05, help="seconds (default 0.05)"
    )
    parser.add_argument("--video", action="store_true", help="entries are video_filepath clips")
    parser.add_argument(
        "--no-decode",
        action="store_true",
        help="read headers only (faster; misses later corruption)",
    )
    return parser.parse_args(argv)


def _ints(text: str | None) -> list[int] | None:
    return [int(x) for x in text.split(",")] if text else None


def checkpoint_rules(path: str, labels: list[str] | None) -> tuple[list[str] | None, str | None]:
    """The label set of a classifier checkpoint, or the characters of a speech-to-text
    checkpoint's character tokenizer (None for SentencePiece, which spells any
    normalised text)."""
    from seqrec.inference.checkpoint import read_checkpoint

    hparams = read_checkpoint(path).get("hyper_parameters") or {}
    if "labels" in hparams:
        return labels or list(hparams["labels"]), None
    if "tokenizer" in hparams:
        from seqrec.text import CharTokenizer, tokenizer_from_state

        tokenizer = tokenizer_from_state(hparams["tokenizer"])
        charset = "".join(tokenizer.tokens) if isinstance(tokenizer, CharTokenizer) else None
        return labels, charset
    raise CheckpointError(
        f"{path}: not a seqrec checkpoint (its hyper-parameters have neither labels nor a "
        f"tokenizer)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from seqrec.data.validate import ValidationRules, validate_manifests

    labels = args.labels.split(",") if args.labels else None
    sample_rates = _ints(args.sample_rates)
    charset = args.charset
    if args.checkpoint:
        try:
            labels, checkpoint_charset = checkpoint_rules(args.checkpoint, labels)
        except (CheckpointError, ValueError) as e:
            print(f"seqrec-validate: {e}", file=sys.stderr)
            return 2
        charset = charset or checkpoint_charset
    rules = ValidationRules(
        labels=labels,
        charset=charset,
        sample_rates=sample_rates,
        channels=_ints(args.channels),
        duration_tolerance=args.duration_tolerance,
        max_duration=args.max_duration,
        video=args.video,
        decode=not args.no_decode,
    )
    checked, problems = validate_manifests(args.manifests, rules)
    for problem in problems:
        print(f"{problem.source}: {problem.reason}: {problem.message}")
    if problems:
        counts = ", ".join(
            f"{reason}: {n}" for reason, n in sorted(Counter(p.reason for p in problems).items())
        )
        print(
            f"seqrec-validate: {len(problems)} problem(s) in {checked} lines ({counts})",
            file=sys.stderr,
        )
        return 1
    print(
        f"seqrec-validate: {checked} lines in {len(args.manifests)} manifest(s), no problems",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
