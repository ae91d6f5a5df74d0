"""The console commands as processes: seqrec-predict, seqrec-eval and a seqrec-train sweep give
what the Python API gives, and wrong use gets a one-line message naming the input."""

import json
from pathlib import Path

import pytest
import soundfile as sf
from omegaconf import OmegaConf

import seqrec
from seqrec.api import Transcriber
from seqrec.config import conf_dir
from seqrec.data.manifest import read_manifest
from seqrec.inference.evaluate import evaluate_transcriber
from seqrec.text import normalize_text
from seqrec.train import train
from tests.conftest import (
    TINY_ACTIONS,
    make_config,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
    write_wav,
)
from tests.helpers import error_rates, payloads, plant, run_cli


def test_load_transcribe_eval_and_predict(asr_run, asr_data_dir, tmp_path):
    checkpoint = asr_run / "checkpoints" / "best.ckpt"
    model = seqrec.load(checkpoint)
    assert isinstance(model, Transcriber)
    manifest = asr_data_dir / "asr_synthetic" / "test.jsonl"
    results = evaluate_transcriber(model, manifest)
    rows = [json.loads(line) for line in manifest.open()]
    hypotheses = model.transcribe([manifest.parent / r["audio_filepath"] for r in rows])
    wer, cer = error_rates(hypotheses, [normalize_text(r["text"]) for r in rows])
    assert results["num_examples"] == 4 and results["rtf"] > 0
    assert results["wer"] == pytest.approx(wer, abs=1e-6)
    assert results["cer"] == pytest.approx(cer, abs=1e-6)
    out = tmp_path / "pred.jsonl"
    wav = next((asr_data_dir / "asr_synthetic" / "test").glob("*/*.wav"))
    run_cli(
        "seqrec-predict",
        f"ckpt_path={checkpoint}",
        f"inputs=[{wav}]",
        f"output={out}",
        "decoding=beam_lm",
        f"lm_text={asr_data_dir / 'asr_synthetic' / 'lm_text.txt'}",
        "word_times=true",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in out.open()]
    model.set_decoding(
        {
            "_target_": "seqrec.core.ctc_search.LexiconBeamSearch",
            "beam_size": 64,  # as conf/decoding/beam_lm.yaml, which the CLI used
            "lm_text": str(asr_data_dir / "asr_synthetic" / "lm_text.txt"),
        }
    )
    (expected,) = model.transcribe_with_times([wav])  # the CLI transcribes as the API does
    assert len(rows) == 1 and rows[0]["text"] == expected.text
    assert rows[0]["words"] == [w.as_dict() for w in expected.words]
    words = rows[0]["words"]
    assert " ".join(w["word"] for w in words) == rows[0]["text"]
    duration = sf.info(wav).duration
    assert all(0 <= w["start"] < w["end"] <= duration + 0.04 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    train = asr_data_dir / "asr_synthetic" / "train.jsonl"
    result = run_cli(
        "seqrec-eval",
        f"ckpt_path={checkpoint}",
        f"manifest={manifest}",
        "decoding=beam",
        f"known_words={train}",
        f"output={tmp_path / 'eval.json'}",
        cwd=tmp_path,
    )
    scored = json.loads((tmp_path / "eval.json").read_text())
    assert json.loads(result.stdout[result.stdout.index("{") :]) == scored  # what it prints
    assert scored["decoding"] == "beam" and scored["num_examples"] == 4
    # the scores of the model itself decoding with conf/decoding/beam.yaml, counted here
    beam = OmegaConf.to_container(OmegaConf.load(Path(conf_dir()) / "decoding" / "beam.yaml"))
    model.set_decoding(beam)
    references = [normalize_text(json.loads(line)["text"]) for line in manifest.open()]
    paths = [e.path for e in read_manifest(manifest, target_key="text")]
    wer, cer = error_rates(model.transcribe(paths), references)
    assert scored["wer"] == pytest.approx(wer, abs=1e-6)
    assert scored["cer"] == pytest.approx(cer, abs=1e-6)
    known = {
        w for e in read_manifest(train, target_key="text") for w in normalize_text(e.text).split()
    }
    test_words = [w for r in references for w in r.split()]
    assert scored["known_words"]["words"] == sum(w in known for w in test_words)
    assert scored["unknown_words"]["words"] == sum(w not in known for w in test_words)


def test_seqrec_eval_refuses_a_planted_checkpoint(tmp_path):
    marker = tmp_path / "payload_ran"
    path = plant(tmp_path / "planted.ckpt", payloads(marker)["builtins.open"])
    result = run_cli(
        "seqrec-eval", f"ckpt_path={path}", "manifest=x.jsonl", cwd=tmp_path, check=False
    )
    assert result.returncode != 0
    assert "planted.ckpt: refused to load" in result.stderr + result.stdout
    assert not marker.exists()


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


def test_predict_and_eval_clis(tmp_path, trained_run, synthetic_data_dir, model):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    manifest = synthetic_data_dir / "kws_synthetic" / "test.jsonl"
    output = tmp_path / "preds.jsonl"
    run_cli(
        "seqrec-predict",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={output}",
        "top_k=2",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    n = len(manifest.read_text().splitlines())
    files = [manifest.parent / json.loads(line)["audio_filepath"] for line in manifest.open()]
    assert len(rows) == n
    for row, expected in zip(rows, model.classify(files, top_k=2), strict=True):
        assert row["label"] == expected.label  # the CLI predicts what the API does
        assert [t["label"] for t in row["top_k"]] == [label for label, _ in expected.top_k]
        assert [t["score"] for t in row["top_k"]] == pytest.approx([p for _, p in expected.top_k])

    result = run_cli(
        "seqrec-eval",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={tmp_path / 'eval.json'}",
        cwd=tmp_path,
    )
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert scores["num_examples"] == n
    expected = (
        sum(
            r["label"] == json.loads(line)["label"]
            for r, line in zip(rows, manifest.read_text().splitlines(), strict=True)
        )
        / n
    )
    assert scores["acc"] == pytest.approx(expected)
    assert '"acc"' in result.stdout
    assert not list(tmp_path.glob("*.log"))  # eval and predict leave no Hydra litter


def cli_overrides(data_dir: Path) -> list[str]:
    return [
        *tiny_synthetic_overrides(data_dir),
        *tiny_model_overrides(),
        "trainer.fast_dev_run=true",
    ]


def test_multirun_sweep(tmp_path, synthetic_data_dir):
    run_cli(
        "seqrec-train",
        "-m",
        "experiment=kws_synthetic",
        *cli_overrides(synthetic_data_dir),
        "decoder.hidden=8,16",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    for job, hidden in ((0, 8), (1, 16)):
        config = (tmp_path / "sweep" / str(job) / "config.yaml").read_text()
        assert f"hidden: {hidden}" in config
        assert (tmp_path / "sweep" / str(job) / "metrics.json").is_file()


def test_eval_and_predict_clis_for_video(tmp_path, video_data_dir, trained_run):
    from seqrec.inference.evaluate import evaluate_classifier

    cfg = make_config(
        tmp_path / "run", ["experiment=video_synthetic", *tiny_video_overrides(video_data_dir)]
    )
    train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    manifest = video_data_dir / "video_synthetic" / "test.jsonl"
    results = {}
    for shuffle in ("false", "true"):
        out = tmp_path / f"eval_{shuffle}.json"
        run_cli(
            "seqrec-eval",
            f"ckpt_path={ckpt}",
            f"manifest={manifest}",
            f"shuffle_frames={shuffle}",
            f"output={out}",
            cwd=tmp_path,
        )
        results[shuffle] = json.loads(out.read_text())
        assert results[shuffle]["num_examples"] == len(TINY_ACTIONS)
        assert results[shuffle]["shuffle_frames"] == (shuffle == "true")
    preds = tmp_path / "preds.jsonl"
    run_cli(
        "seqrec-predict",
        f"ckpt_path={ckpt}",
        f"manifest={manifest}",
        f"output={preds}",
        cwd=tmp_path,
    )
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    # the CLI's predictions are the in-process model's, line for line, and seqrec-eval's
    # accuracy is theirs scored against the manifest labels
    entries = read_manifest(manifest, "video_filepath")
    expected = seqrec.load(ckpt).classify([e.path for e in entries], top_k=5)
    assert [r["input"] for r in rows] == [e.id for e in entries]
    assert [r["label"] for r in rows] == [p.label for p in expected]
    assert [r["score"] for r in rows] == pytest.approx([p.score for p in expected], abs=1e-5)
    correct = [r["label"] == e.label for r, e in zip(rows, entries, strict=True)]
    assert results["false"]["acc"] == pytest.approx(sum(correct) / len(correct))
    audio_model = seqrec.load(trained_run / "checkpoints" / "best.ckpt")
    with pytest.raises(ValueError, match="video models only"):
        evaluate_classifier(audio_model, manifest, shuffle_frames=True)
