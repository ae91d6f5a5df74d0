"""Every seqrec command in the user docs (README.md, docs/, the recipe READMEs) parses as
written: a Hydra command's overrides compose into its config, and an argparse command's
arguments parse. A placeholder such as ``<run>`` or ``<asr run>`` is read as a name
(``RUN``), and a bare ``<overrides>`` is left out. Nothing is run."""

import argparse
import re
import shlex

import pytest
from hydra import compose, initialize_config_dir

from seqrec.config import conf_dir, register_resolvers
from tests.helpers import REPO

DOCS = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "recipes").glob("*/README.md")]
)
HYDRA_CONFIGS = {
    "seqrec-train": "train",
    "seqrec-eval": "eval",
    "seqrec-predict": "predict",
    "seqrec-export": "export",
    "seqrec-detect": "detect",
    "seqrec-streams": "streams",
    "seqrec-eval-stream": "eval_stream",
    "seqrec-heldout": "heldout",
    "seqrec-levers": "levers",
}
ARGPARSE_MAINS = {
    "seqrec-validate": "seqrec.cli.validate",
    "seqrec-fsdd": "seqrec.cli.fsdd",
    "seqrec-bench": "seqrec.bench.suite",
    "seqrec-bench-export": "seqrec.bench.export",
    "seqrec-bench-asr": "seqrec.bench.asr_rtf",
    "seqrec-bench-word-times": "seqrec.bench.word_times",
    "seqrec-bench-video": "seqrec.bench.video_pipeline",
    "seqrec-bench-ts": "seqrec.bench.time_series",
}
PLACEHOLDER = "RUN"  # what stands for a placeholder such as <run> in a path
HYDRA_FLAGS = {"-m", "--multirun", "--info", "--help", "-h", "--resolve"}
HYDRA_OPTIONS = {"--cfg", "-c", "--package", "-p"}  # each takes a value


def hydra_overrides(arguments: list[str]) -> tuple[list[str], bool]:
    """The overrides among a Hydra command's arguments, and whether it sweeps (-m)."""
    overrides, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in HYDRA_OPTIONS:
            skip = True
        elif argument not in HYDRA_FLAGS:
            overrides.append(argument)
    return overrides, bool({"-m", "--multirun"} & set(arguments))


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) for every seqrec command in a ```bash block of the docs."""
    commands = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.findall(r"```(?:bash|sh|console)\n(.*?)```", text, flags=re.S):
            block = block.replace("\\\n", " ")
            for line in block.splitlines():
                line = re.sub(r"<[^<>]*>", PLACEHOLDER, line)  # <run>, <asr run>: a name
                try:
                    tokens = shlex.split(line, comments=True)
                except ValueError:  # an unfinished quote: not a command line
                    continue
                command: list[str] = []
                for token in [*tokens, "&&"]:
                    if token in ("&&", "||", ";", "|"):
                        if command and command[0].startswith("seqrec-"):
                            where = f"{doc.relative_to(REPO)}: {line.strip()[:80]}"
                            commands.append((where, command))
                        command = []
                    else:
                        command.append(token)
    return commands


COMMANDS = documented_commands()


def test_the_docs_hold_commands_of_every_kind():
    names = {argv[0] for _, argv in COMMANDS}
    assert {"seqrec-train", "seqrec-eval", "seqrec-predict", "seqrec-export"} <= names
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("where, argv", COMMANDS, ids=[w for w, _ in COMMANDS])
def test_each_documented_command_parses(where, argv, monkeypatch):
    name, *arguments = argv
    arguments = [a for a in arguments if a != PLACEHOLDER]  # a bare <overrides>
    if name in HYDRA_CONFIGS:
        register_resolvers()
        overrides, sweep = hydra_overrides(arguments)
        if sweep:  # each value of a sweep composes alone: try the first
            overrides = [re.sub(r"=([^,\[\]{}]*),.*$", r"=\1", o) for o in overrides]
        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            compose(HYDRA_CONFIGS[name], overrides=overrides)
        return
    assert name in ARGPARSE_MAINS, f"{where}: {name} is no seqrec command"
    module = __import__(ARGPARSE_MAINS[name], fromlist=["main"])

    class Parsed(Exception):
        pass

    real_parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        real_parse(self, args, namespace)  # exits with argparse's message if they do not parse
        raise Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(Parsed):
        module.main(arguments)
