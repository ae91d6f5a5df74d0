"""Every ``experiment=`` preset through seqrec-train on tiny data: one step (default) and one
epoch that evaluation reproduces (slow)."""

import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import seqrec
from seqrec.config import CONF_DIR
from seqrec.tasks import metrics as names
from tests.conftest import (
    tiny_asr_overrides,
    tiny_model_overrides,
    tiny_synthetic_overrides,
    tiny_video_overrides,
)
from tests.helpers import (
    TINY_TRAINER_OVERRIDES,
    TINY_VIDEO_READER_OVERRIDES,
    error_rates,
    needs_openwakeword,
    needs_piper,
    run_cli,
)

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
# The per-problem time-series presets differ from experiment=time_series only in
# their data and a few settings: the default suite runs time_series, the slow one all.
PRESETS = [
    pytest.param(e, marks=pytest.mark.slow) if e.startswith("ts_") else e for e in EXPERIMENTS
]


def tiny_detect_corpus(words: list[str]) -> list[str]:
    """A detection corpus of ``words``, ``_unknown_`` and ``_silence_`` from 5 voices."""
    quoted = ",".join(f"'{w}'" for w in words)
    return [
        f"data.labels=[{quoted},'_silence_','_unknown_']",
        f"data.prepare.words=[{quoted}]",
        "data.prepare.max_voices=5",
        "data.prepare.val_voices=1",
        "data.prepare.test_voices=1",
        "data.prepare.clips_per_voice={train: 1, val: 1, test: 1}",
        "data.prepare.unknown_clips_per_voice={train: 2, val: 1, test: 1}",
        "data.prepare.unknown_words=[cat]",
        "data.prepare.silence_clips=2",
    ]


def preset_overrides(experiment: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    """Tiny data and model for each preset, so its CLI run takes seconds."""
    data_dir = f"paths.data_dir={tmp_path / 'data'}"
    if experiment == "kws_synthetic":
        return [
            *tiny_synthetic_overrides(request.getfixturevalue("synthetic_data_dir")),
            *tiny_model_overrides(),
        ]
    if experiment == "kws_embedding":  # kws_synthetic's corpus and Piper, the embedding
        needs_openwakeword()
        needs_piper()
        return [
            *tiny_synthetic_overrides(request.getfixturevalue("synthetic_data_dir")),
            "data.prepare.piper_clips_per_word=2",  # into a corpus folder of its own
            "decoder.hidden=16",
            "decoder.num_layers=1",
            "data.max_batch_seconds=8",
            *TINY_TRAINER_OVERRIDES,
        ]
    if experiment == "kws_detect":  # its own corpus: keywords, _unknown_ and _silence_
        return [data_dir, *tiny_detect_corpus(["yes", "no"]), *tiny_model_overrides()]
    if experiment == "kws_digits_detect":  # the digits, _unknown_ and _silence_; Piper
        needs_openwakeword()
        needs_piper()
        return [
            data_dir,
            *tiny_detect_corpus(["one", "two"]),
            "data.prepare.piper_clips_per_word=1",
            "data.dataset.renditions=1",
            "decoder.hidden=16",
            "decoder.num_layers=1",
            *TINY_TRAINER_OVERRIDES,
        ]
    if experiment == "kws_speech_commands":
        root = request.getfixturevalue("speech_commands_root")
        return [data_dir, f"data.prepare.root={root}", *tiny_model_overrides()]
    if experiment == "video_synthetic":
        return tiny_video_overrides(request.getfixturevalue("video_data_dir"))
    if experiment == "asr_synthetic":
        return tiny_asr_overrides(request.getfixturevalue("asr_data_dir"))
    if experiment == "asr_embedding":  # asr_synthetic's corpus through the embedding, BPE
        needs_openwakeword()
        tiny = tiny_asr_overrides(request.getfixturevalue("asr_data_dir"))
        return [
            *(o for o in tiny if not o.startswith(("frontend.", "encoder."))),
            "tokenizer.vocab_size=40",
        ]
    if experiment == "asr_synthetic_large":
        # Its corpus settings differ from asr_synthetic's (Zipf word frequencies), so
        # it prepares a corpus of its own: prepared into asr_data_dir, it would replace
        # the corpus that asr_run was trained on and that other tests read.
        return tiny_asr_overrides(tmp_path / "data")
    if experiment == "asr_librispeech":
        root = request.getfixturevalue("librispeech_root")
        return [
            data_dir,
            f"data.prepare.root={root}",
            "data.prepare.eval_subsets=[dev-clean]",
            "data.test_manifest=${data.prepare.out_dir}/dev-clean.jsonl",
            "tokenizer.vocab_size=40",
            *tiny_model_overrides(),
        ]
    if experiment in ("video_ucf101", "video_hmdb51"):
        root = request.getfixturevalue(experiment.removeprefix("video_") + "_root")
        return [
            data_dir,
            f"data.prepare.root={root}",
            *TINY_VIDEO_READER_OVERRIDES,
            *TINY_TRAINER_OVERRIDES,
        ]
    if experiment == "time_series" or experiment.startswith("ts_"):  # aeon's bundled problems
        pytest.importorskip("aeon")
        return [data_dir, "encoder.channels=[8,8,8]", "encoder.out_dim=8", "decoder.hidden=8"]
    pytest.fail(f"no test data for experiment {experiment}: add it here")


@pytest.mark.parametrize("experiment", PRESETS)
def test_every_experiment_preset_through_the_cli(tmp_path, experiment, request):
    outputs = tmp_path / "test_outputs.json"
    overrides = [
        f"experiment={experiment}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "trainer.fast_dev_run=true",
        *preset_overrides(experiment, tmp_path, request),
        # what the model output for each test sample, apart from the task's metrics
        f"+callbacks.record={{_target_: tests.helpers.RecordTestOutputs, path: {outputs}}}",
    ]
    result = run_cli("seqrec-train", *overrides, cwd=tmp_path)
    assert "test metrics:" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    cfg = OmegaConf.load(tmp_path / "run" / "config.yaml")
    rows = json.loads(outputs.read_text())
    assert rows  # fast_dev_run tests one batch
    # One optimizer step leaves a model that knows nothing yet, and its scores say so.
    if experiment.startswith("asr_"):
        # so the test decoder is the greedy one
        assert cfg.decoding._target_ == "seqrec.core.ctc_search.GreedySearch"
        wer, cer = error_rates([r["hypothesis"] for r in rows], [r["reference"] for r in rows])
        assert metrics[names.TEST_WER] == metrics[names.TEST_WER_GREEDY]
        assert metrics[names.TEST_CER] == metrics[names.TEST_CER_GREEDY]
        assert metrics[names.TEST_WER] == pytest.approx(wer, abs=1e-6)
        assert metrics[names.TEST_CER] == pytest.approx(cer, abs=1e-6)
        assert 0 < metrics[names.TEST_LOSS] < math.inf
    else:
        # near-uniform scores over the preset's own labels: the loss is about ln(classes)
        labels = list(cfg.data.labels)
        assert metrics[names.TEST_LOSS] == pytest.approx(math.log(len(labels)), rel=0.2)
        per_class = {k for k in metrics if k.startswith(names.TEST_CLASS_ACC_PREFIX)}
        assert per_class == {names.TEST_CLASS_ACC_PREFIX + label for label in labels}
        for c, label in enumerate(labels):  # a class absent from the tested batch has no rows
            hits = [r["prediction"] == c for r in rows if r["target"] == c]
            if hits:
                assert metrics[names.TEST_CLASS_ACC_PREFIX + label] == pytest.approx(
                    sum(hits) / len(hits), abs=1e-6
                ), label


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_trains_an_epoch_that_evaluation_reproduces(
    tmp_path, experiment, request
):
    """A real (tiny) epoch per preset, checkpoints and all: the test metrics logged in
    training are what ``seqrec-eval``'s scoring gives for the evaluated checkpoint."""
    from seqrec.inference.evaluate import evaluate_classifier, evaluate_transcriber

    overrides = [
        f"experiment={experiment}",
        f"hydra.run.dir={tmp_path / 'run'}",
        *preset_overrides(experiment, tmp_path, request),
        "trainer.max_epochs=1",
    ]
    run_cli("seqrec-train", *overrides, cwd=tmp_path)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    test_manifest = OmegaConf.load(tmp_path / "run" / "config.yaml").data.test_manifest
    model = seqrec.load(metrics["evaluated_checkpoint"])
    if experiment.startswith("asr_"):
        scores = evaluate_transcriber(model, test_manifest)
        assert metrics[names.TEST_WER] == pytest.approx(scores["wer"], abs=1e-6)
        assert metrics[names.TEST_CER] == pytest.approx(scores["cer"], abs=1e-6)
    else:
        scores = evaluate_classifier(model, test_manifest)
        assert metrics[names.TEST_ACC] == pytest.approx(scores["acc"], abs=1e-6)
        assert metrics[names.TEST_ACC_MACRO] == pytest.approx(scores["acc_macro"], abs=1e-6)
