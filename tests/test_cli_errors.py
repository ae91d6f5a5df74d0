"""Wrong use gets a one-line message naming the input and what was expected."""

import pytest
import torch

import seqrec
from seqrec.cli.validate import main as validate_main
from tests.conftest import write_manifest_lines, write_wav
from tests.helpers import run_cli


def test_validate_takes_the_character_set_from_a_speech_to_text_checkpoint(
    tmp_path, asr_run, capsys
):
    write_wav(tmp_path / "a.wav")
    manifest = write_manifest_lines(
        tmp_path / "asr.jsonl",
        [
            {"audio_filepath": "a.wav", "duration": 1.0, "text": "Hello, World!"},
            {"audio_filepath": "a.wav", "duration": 1.0, "text": "room 101"},
        ],
    )
    ckpt = asr_run / "checkpoints" / "best.ckpt"
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


def test_a_model_says_which_methods_its_checkpoint_has(trained_run, asr_run):
    classifier_ckpt = trained_run / "checkpoints" / "best.ckpt"
    classifier = seqrec.load(classifier_ckpt)
    with pytest.raises(TypeError) as error:
        classifier.transcribe([torch.zeros(16000)])
    assert str(error.value) == (
        f"{classifier_ckpt}: transcribe() needs a speech-to-text (CTC) checkpoint, "
        "but this checkpoint is a classifier"
    )
    transcriber = seqrec.load(asr_run / "checkpoints" / "best.ckpt")
    with pytest.raises(TypeError, match=r"best\.ckpt: classify\(\) needs a classifier"):
        transcriber.classify([torch.zeros(16000)])


@pytest.mark.parametrize("option", ["decoding=greedy", "word_times=true", "lm_text=lm.txt"])
def test_predict_refuses_speech_to_text_options_on_a_classifier(tmp_path, trained_run, option):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    write_wav(tmp_path / "a.wav")
    result = run_cli(
        "seqrec-predict", f"ckpt_path={ckpt}", "inputs=[a.wav]", option, cwd=tmp_path, check=False
    )
    name = option.split("=")[0]
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"seqrec-predict: {name}= applies to speech-to-text (CTC) checkpoints; "
        f"{ckpt} is a classifier"
    )
    assert not (tmp_path / "predictions.jsonl").exists()


def test_eval_refuses_frame_shuffling_on_audio(tmp_path, trained_run, synthetic_data_dir):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    manifest = synthetic_data_dir / "kws_synthetic" / "test.jsonl"
    args = [f"ckpt_path={ckpt}", f"manifest={manifest}", "shuffle_frames=true"]
    result = run_cli("seqrec-eval", *args, cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"seqrec-eval: shuffle_frames= applies to video classifiers; {ckpt} is a classifier"
    )
