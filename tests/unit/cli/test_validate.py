"""seqrec-validate with a checkpoint: the label or character set comes from it."""

import torch

from seqrec.cli.validate import main as validate_main
from tests.conftest import write_manifest_lines, write_wav
from tests.helpers import write_checkpoint


def test_validate_takes_the_character_set_from_a_speech_to_text_checkpoint(tmp_path, capsys):
    write_wav(tmp_path / "a.wav")
    manifest = write_manifest_lines(
        tmp_path / "asr.jsonl",
        [
            {"audio_filepath": "a.wav", "duration": 1.0, "text": "Hello, World!"},
            {"audio_filepath": "a.wav", "duration": 1.0, "text": "room 101"},
        ],
    )
    ckpt = write_checkpoint(tmp_path / "ctc_char.ckpt", "ctc_char")  # characters, as asr_synthetic
    assert validate_main([str(manifest), "--checkpoint", str(ckpt)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{manifest}:2: bad_text: character '1'")


def test_validate_names_a_checkpoint_that_is_not_seqrecs(tmp_path, capsys):
    write_wav(tmp_path / "a.wav")
    manifest = write_manifest_lines(
        tmp_path / "m.jsonl", [{"audio_filepath": "a.wav", "duration": 1.0, "label": "x"}]
    )
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 0.1}}, other)
    assert validate_main([str(manifest), "--checkpoint", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"seqrec-validate: {other}: not a seqrec checkpoint (its hyper-parameters have "
        "neither labels nor a tokenizer)"
    )
