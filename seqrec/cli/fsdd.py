"""seqrec-fsdd: the manifest of a folder of Free Spoken Digit Dataset recordings, to
score a voice-commands model on real speakers (never to train on them).

    seqrec-fsdd ../shared/data/fsdd-dev data/fsdd_dev.jsonl
    seqrec-eval ckpt_path=.../best.ckpt manifest=data/fsdd_dev.jsonl
"""

import argparse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="seqrec-fsdd", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="the folder of {digit}_{speaker}_{index}.wav files")
    parser.add_argument("out", help="the manifest to write (.jsonl)")
    parser.add_argument(
        "--skip-misnamed",
        action="store_true",
        help="leave out .wav files not named as FSDD's, and list them (default: an error)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from seqrec.data.fsdd import fsdd_manifest

    try:
        summary = fsdd_manifest(args.root, args.out, "skip" if args.skip_misnamed else "raise")
    except (OSError, ValueError) as e:
        raise SystemExit(f"seqrec-fsdd: {e}") from None
    print(summary)


if __name__ == "__main__":
    main()
