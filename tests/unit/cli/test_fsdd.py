"""seqrec-fsdd: the builder as a command, and its one-line errors."""

import json

import pytest

from seqrec.cli.fsdd import main as fsdd_main
from tests.conftest import write_wav


def test_seqrec_fsdd_writes_the_manifest_and_says_what_is_in_it(tmp_path, capsys):
    for name in ("1_george_0.wav", "1_lucas_0.wav", "2_lucas_1.wav"):
        write_wav(tmp_path / "fsdd" / name, seconds=0.25, rate=8000)
    fsdd_main([str(tmp_path / "fsdd"), str(tmp_path / "data" / "fsdd.jsonl")])
    out = capsys.readouterr().out.strip()
    assert (
        out
        == f"{tmp_path / 'data' / 'fsdd.jsonl'}: 3 recordings, 2 speakers (george, lucas), 2 labels"
    )
    lines = (tmp_path / "data" / "fsdd.jsonl").read_text().splitlines()
    assert [json.loads(line)["label"] for line in lines] == ["one", "one", "two"]


def test_seqrec_fsdd_errors_are_one_line(tmp_path, capsys):
    write_wav(tmp_path / "fsdd" / "one_george_0.wav", seconds=0.25, rate=8000)
    with pytest.raises(
        SystemExit, match=r"^seqrec-fsdd: .*one_george_0\.wav: not named as an FSDD"
    ):
        fsdd_main([str(tmp_path / "fsdd"), str(tmp_path / "fsdd.jsonl")])
    with pytest.raises(SystemExit, match=r"fsdd: no FSDD recordings"):
        fsdd_main([str(tmp_path / "fsdd"), str(tmp_path / "fsdd.jsonl"), "--skip-misnamed"])
