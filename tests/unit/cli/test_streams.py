"""seqrec-streams: the command builds the chosen source's streams and refuses bad use."""

import json

import pytest
from hydra import compose, initialize_config_dir

from seqrec.cli.streams import build
from seqrec.config import conf_dir
from tests.helpers import write_streams_layout


def streams_config(overrides: list[str]):
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("streams", overrides=overrides)


def test_speech_commands_streams_from_the_command(tmp_path, capsys):
    write_streams_layout(tmp_path / "sc")
    out = tmp_path / "streams"
    cfg = streams_config(
        ["source=speech_commands", f"root={tmp_path / 'sc'}", f"out={out}", "streams=1",
         "stream_seconds=30", "layout.keyword_spacing=[4.0,6.0]"]
    )  # fmt: skip
    stats = build(cfg)
    rows = [json.loads(line) for line in (out / "streams.jsonl").read_text().splitlines()]
    assert stats["streams"] == len(rows) == 1 and rows[0]["duration"] == 30.0
    assert sum(stats["keywords"].values()) == len(rows[0]["keywords"]) > 0
    assert f"{out / 'streams.jsonl'}: 1 streams" in capsys.readouterr().out


def test_the_command_refuses_an_unknown_source_and_a_missing_root(tmp_path):
    with pytest.raises(SystemExit, match="source must be one of synthetic, speech_commands"):
        build(streams_config(["source=foo", "out=unused"]))
    with pytest.raises(SystemExit, match="needs root="):
        build(streams_config(["source=speech_commands"]))


def test_manifest_on_the_command_line_reaches_the_synthetic_source(tmp_path):
    from hydra.utils import instantiate

    manifest = tmp_path / "keywords.jsonl"
    cfg = streams_config([f"manifest={manifest}", "keywords=[one,two]", f"out={tmp_path / 's'}"])
    corpus = instantiate(cfg.sources[cfg.source])
    assert corpus.keyword_manifest == str(manifest) and corpus.keywords == ("one", "two")
    assert instantiate(streams_config([]).sources.synthetic).keyword_manifest is None
