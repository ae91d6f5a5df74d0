"""A checkpoint is data: nothing it names is imported or called unless seqrec allows it.

Each planted checkpoint below holds only tensors and plain containers, so it passes
``weights_only=True``; its payload would create ``marker`` in ``tmp_path`` if it ran.
Each test first shows that plain ``hydra.utils.instantiate`` does run the payload
(or, for the callables Hydra's own blocklist names, that the refusal is seqrec's),
so a refusal test that lets the payload through fails.
"""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import seqrec
from seqrec.config import CONF_DIR
from seqrec.inference.checkpoint import (
    ALLOWED_TARGETS,
    CheckpointError,
    check_config,
    read_checkpoint,
)
from seqrec.tasks.checkpointing import AtomicCheckpointIO, average_checkpoints
from seqrec.train import resolve_resume_checkpoint
from tests.conftest import make_config
from tests.helpers import (
    PLANT_FIELDS,
    fill_speech_embedding,
    needs_openwakeword,
    payloads,
    plant,
)

HYDRA_BLOCKS = {"os.system", "subprocess.run", "builtins.eval via _partial_"}


@pytest.fixture(autouse=True, scope="module")
def touch_resolver():
    """A resolver with a visible side effect, standing in for any registered one."""
    OmegaConf.register_new_resolver(
        "seqrec_test_touch", lambda path: Path(path).touch() or None, replace=True
    )
    yield
    OmegaConf.clear_resolver("seqrec_test_touch")


def _run_unguarded(config: dict) -> None:
    """What seqrec did before the allowlist: Hydra's instantiate on the loaded config."""
    try:
        built = instantiate(config)
        if callable(built) and not isinstance(built, torch.nn.Module):
            built()  # a _partial_ is called when used, as an optimizer factory is
    except Exception:
        pass


ROUTES = list(payloads(Path("m")))


@pytest.mark.parametrize("route", ROUTES)
def test_unguarded_instantiate_runs_the_payload(tmp_path, route):
    marker = tmp_path / "payload_ran"
    config = payloads(marker)[route]
    if route in HYDRA_BLOCKS:
        with pytest.raises(Exception, match="blocklisted"):
            instantiate(config)
        return
    if route == "oc.env":
        built = OmegaConf.create(config)
        assert built.encoder == str(Path.home())  # the environment leaks into the model
        return
    _run_unguarded(config)
    assert marker.exists()


def _load(path: Path) -> None:
    seqrec.load(path)


def _resume(path: Path) -> None:
    resolve_resume_checkpoint(str(path), path.parent)


def _lightning_io(path: Path) -> None:
    AtomicCheckpointIO().load_checkpoint(path)  # trainer.fit/validate/test(ckpt_path=...)


def _average(path: Path) -> None:
    average_checkpoints([path, path], path.with_name("avg.ckpt"))


def _validate_cli(path: Path) -> None:
    from seqrec.cli.validate import checkpoint_rules

    checkpoint_rules(str(path), None)


ENTRY_POINTS = {
    "seqrec.load": _load,
    "resume": _resume,
    "lightning": _lightning_io,
    "average": _average,
    "validate": _validate_cli,
}


@pytest.mark.parametrize("field", list(PLANT_FIELDS))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("route", ROUTES)
def test_planted_checkpoint_is_refused_and_never_runs(tmp_path, route, entry, field):
    marker = tmp_path / "payload_ran"
    path = plant(tmp_path / "planted.ckpt", payloads(marker)[route], field)
    with pytest.raises(CheckpointError, match=r"planted\.ckpt: refused to load") as refusal:
        ENTRY_POINTS[entry](path)
    assert not marker.exists()
    message = str(refusal.value)
    where = PLANT_FIELDS[field]
    if route in ("resolver", "oc.env") and field in ("model_config", "tokenizer", "other"):
        inside = "" if field == "model_config" else f"{where}."
        assert "interpolation" in message and f"{inside}encoder" in message
        assert message.split(":")[1].strip().startswith("refused") and where in message
    else:
        # a reader or a decoding may not even name a model (the payload's outer target)
        assert "is not one of seqrec's building blocks" in message
        refused = {
            "in _args_": "pathlib.Path.touch",
            "nested three levels down": "builtins.open",
            "builtins.eval via _partial_": "builtins.eval",
        }.get(route, route)
        # outside model_config, even the payload's outer (model) target is refused
        outer = payloads(marker)[route]["_target_"]
        assert repr(refused) in message or (field != "model_config" and repr(outer) in message)
        assert where in message


def test_targets_in_every_form_are_checked():
    source = "x.ckpt"
    for bad in (
        {"_target_": ["builtins.open"]},  # not a string
        {"_target_": "seqrec.modules.features.torch.load"},  # an allowed module's attribute
        {"_target_": " seqrec.modules.SmallCNN"},
        {"layers": [[{"_target_": "builtins.open"}]]},  # inside nested lists
        {"_target_": "seqrec.modules.SmallCNN", "_args_": [{"_target_": "builtins.print"}]},
        {"${oc.env:HOME}": 1},  # an interpolation as a key
        {"a": b"bytes"},  # not plain config data
    ):
        with pytest.raises(CheckpointError, match=r"x\.ckpt: refused to load"):
            check_config(bad, source)
    check_config({"_target_": "seqrec.modules.SmallCNN", "channels": [8, 16]}, source)


def test_every_model_target_in_the_configs_is_allowed():
    """The allowlist covers every building block a preset can name, so a new module
    cannot ship without deciding whether checkpoints may build it."""
    groups = ("frontend", "encoder", "decoder", "head", "model")
    named = set()
    for group in groups:
        for path in (CONF_DIR / group).glob("*.yaml"):
            named |= {
                line.split("_target_:")[1].strip()
                for line in path.read_text().splitlines()
                if "_target_:" in line
            }
    assert named and named <= ALLOWED_TARGETS, named - ALLOWED_TARGETS


def _preset_checkpoint(tmp_path: Path, preset: str, extra: tuple[str, ...] = ()) -> Path:
    """A checkpoint of ``preset``'s full-size model (with the ``extra`` overrides),
    written by Lightning as training writes ``best.ckpt``."""
    from types import SimpleNamespace

    from seqrec.text import Tokenizer
    from seqrec.train import build_task

    overrides = [f"experiment={preset}", f"paths.data_dir={tmp_path}", *extra]
    cfg = make_config(tmp_path / "run", overrides)
    if "vocab_size" in (cfg.get("tokenizer") or {}):  # learnt below from a little text
        cfg = make_config(tmp_path / "run", [*overrides, "tokenizer.vocab_size=40"])
    targets: dict = {}
    if cfg.get("tokenizer"):
        tokenizer = instantiate(cfg.tokenizer)
        if not isinstance(tokenizer, Tokenizer):  # it learns from the training text
            text = ["the quick brown fox jumps over the lazy dog", "pack my box with liquor"] * 50
            tokenizer = tokenizer(text)
        targets["tokenizer"] = tokenizer
    else:
        targets["labels"] = list(cfg.data.labels or ["a", "b", "c"])
    task = build_task(cfg, SimpleNamespace(task_targets=lambda: targets))
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu")
    trainer.strategy.connect(task)
    path = tmp_path / f"{preset}.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    return path


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_every_preset_checkpoint_still_loads(tmp_path, preset):
    if preset == "kws_embedding":  # training reads the embedding's weights from the wheel
        needs_openwakeword()
    path = _preset_checkpoint(tmp_path, preset)
    read_checkpoint(path)  # the allowlist admits it
    model = seqrec.load(path)
    saved = torch.load(path, weights_only=True)["state_dict"]
    loaded = model.network.model.state_dict()
    assert loaded.keys() == {k.removeprefix("model.") for k in saved}
    assert all(torch.equal(loaded[k.removeprefix("model.")], v) for k, v in saved.items())
    # the checkpoint carries the data config's reader, and the loaded model reads with it
    cfg = make_config(tmp_path / "cfg", [f"experiment={preset}", f"paths.data_dir={tmp_path}"])
    reader = torch.load(path, weights_only=True)["hyper_parameters"]["reader"]
    assert reader == OmegaConf.to_container(cfg.data.reader, resolve=True)
    assert model.reader == instantiate(cfg.data.reader, _convert_="all")


def test_a_speech_embedding_checkpoint_loads_without_the_wheel(tmp_path, monkeypatch):
    """Training builds the front end with ``pretrained: true``, which reads the
    openwakeword wheel; a checkpoint carries those weights in its state dict, so it
    rebuilds and gives the same outputs where the wheel is not installed."""
    import importlib.util

    from seqrec.modules import SpeechEmbedding

    config = {
        "_target_": "seqrec.modules.SequenceModel",
        "frontend": {"_target_": "seqrec.modules.SpeechEmbedding", "pretrained": True},
        "encoder": None,
        "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 96, "hidden": 8},
        "head": {"_target_": "seqrec.modules.ClassifierHead", "input_dim": 16, "num_classes": 3},
    }
    torch.manual_seed(0)
    written = instantiate({**config, "frontend": {**config["frontend"], "pretrained": False}})
    fill_speech_embedding(written.frontend)  # weights no fresh build has
    state = {f"model.{k}": v for k, v in written.state_dict().items()}
    reader = {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": 16000}
    hparams = {"model_config": config, "labels": ["a", "b", "c"], "reader": reader}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, tmp_path / "e.ckpt")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "openwakeword" else real(name, *args),
    )
    with pytest.raises(ImportError, match="openwakeword"):  # the wheel is hidden indeed
        SpeechEmbedding(pretrained=True)
    loaded = seqrec.load(tmp_path / "e.ckpt").network.model.eval()
    audio, lengths = torch.randn(2, 20000) * 0.1, torch.tensor([20000, 9000])
    with torch.no_grad():
        torch.testing.assert_close(loaded(audio, lengths), written.eval()(audio, lengths))


def test_a_checkpoint_naming_the_old_classifier_class_still_loads(tmp_path):
    """Classifier checkpoints written before the one model config name
    ``seqrec.modules.SequenceClassifier``."""
    path = _preset_checkpoint(tmp_path, "kws_synthetic")
    checkpoint = torch.load(path, weights_only=True)
    assert (
        checkpoint["hyper_parameters"]["model_config"]["_target_"] == "seqrec.modules.SequenceModel"
    )
    checkpoint["hyper_parameters"]["model_config"]["_target_"] = "seqrec.modules.SequenceClassifier"
    torch.save(checkpoint, tmp_path / "old.ckpt")
    old, new = seqrec.load(tmp_path / "old.ckpt"), seqrec.load(path)
    waveform = torch.randn(16000) * 0.1
    assert old.classify([waveform])[0] == new.classify([waveform])[0]


def test_a_pre_release_checkpoint_without_a_reader_is_refused_with_the_fix(tmp_path):
    """The first pre-release stored an ``input_spec`` instead of the reader config; its
    conversion went with the other pre-release shims, so loading one says what to do."""
    checkpoint = torch.load(_preset_checkpoint(tmp_path, "kws_synthetic"), weights_only=True)
    checkpoint["hyper_parameters"].pop("reader")
    checkpoint["hyper_parameters"]["input_spec"] = {"modality": "audio", "sample_rate": 16000}
    torch.save(checkpoint, tmp_path / "old.ckpt")
    with pytest.raises(CheckpointError, match=r"old\.ckpt: written by a pre-release .* input_spec"):
        seqrec.load(tmp_path / "old.ckpt")


def test_a_reader_naming_a_callable_outside_the_allowlist_is_refused(tmp_path):
    marker = tmp_path / "marker"
    checkpoint = torch.load(_preset_checkpoint(tmp_path, "kws_synthetic"), weights_only=True)
    checkpoint["hyper_parameters"]["reader"] = {
        "_target_": "builtins.open",
        "_args_": [str(marker), "w"],
    }
    torch.save(checkpoint, tmp_path / "planted.ckpt")
    with pytest.raises(
        CheckpointError, match=r"planted\.ckpt: refused.*reader\._target_ names 'builtins\.open'"
    ):
        seqrec.load(tmp_path / "planted.ckpt")
    assert not marker.exists()


class Payload:
    """Unpickling it creates ``marker``: the file shows whether a load ran it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload(str(marker))}}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        seqrec.load(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # an unsafe load does run the payload
    assert marker.exists()
    with pytest.raises(CheckpointError, match="not found"):
        seqrec.load(tmp_path / "missing.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="not a seqrec checkpoint"):
        seqrec.load(tmp_path / "other.ckpt")


# Every field a file carries is data (seqrec.core.safe_config): the planted files of the
# trust review, each refused before anything is read, written, downloaded or allocated.


def _with(path: Path, out: Path, edit) -> Path:
    checkpoint = torch.load(path, weights_only=True)
    edit(checkpoint["hyper_parameters"])
    torch.save(checkpoint, out)
    return out


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_a_decoding_naming_an_lm_file_is_refused_and_the_file_never_read(tmp_path):
    source = _preset_checkpoint(tmp_path, "asr_synthetic")
    text = tmp_path / "any.txt"
    text.write_text("secret words in a file\n")
    lm = {"_target_": "seqrec.core.ctc_search.LexiconBeamSearch", "_partial_": True}
    planted = _with(
        source, tmp_path / "lm.ckpt", lambda h: h.update(decoding={**lm, "lm_text": str(text)})
    )
    before = _files(tmp_path)
    with pytest.raises(CheckpointError, match=r"lm\.ckpt: refused to load: decoding\.lm_text"):
        seqrec.load(planted)
    assert _files(tmp_path) == before  # no <file>.3gram.arpa beside it
    # the user's own decoding replaces the file's, which is then not built
    assert seqrec.load(planted, decoding={**lm, "_target_": "seqrec.core.ctc_search.GreedySearch"})
    for key, value in [("lm_path", str(text)), ("lexicon", str(text))]:
        bad = _with(
            source, tmp_path / "b.ckpt", lambda h, k=key, v=value: h.update(decoding={**lm, k: v})
        )
        with pytest.raises(CheckpointError, match=rf"decoding\.{key} names a file"):
            seqrec.load(bad)
    huge = {**lm, "lm_order": 10**6, "lm_arpa": "x"}
    bad = _with(source, tmp_path / "o.ckpt", lambda h: h.update(decoding=huge))
    with pytest.raises(CheckpointError, match="lm_order must be a whole number in 1-6"):
        seqrec.load(bad)


def test_a_reader_names_only_readers_and_no_weights(tmp_path, monkeypatch):
    import torch.hub

    downloads = []
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: downloads.append(a))
    source = _preset_checkpoint(tmp_path, "kws_synthetic")
    resnet = {"_target_": "torchvision.models.resnet18", "weights": "DEFAULT"}
    headless = {"_target_": "seqrec.modules.headless", "weights_path": str(tmp_path / "w.pt")}
    for name, payload in [("resnet", resnet), ("headless", headless)]:
        planted = _with(
            source,
            tmp_path / f"{name}.ckpt",
            lambda h, p=payload: h.update(reader={**h["reader"], "level_db": p}),
        )
        with pytest.raises(
            CheckpointError, match=rf"{name}\.ckpt: refused to load: reader\.level_db\._target_"
        ):
            seqrec.load(planted)
    assert not downloads


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("clip_seconds", 1e6, "clip_seconds must be a number in 0-600"),
        ("sample_rate", 10**9, "sample_rate must be a whole number in 1000-384000"),
        ("level_db", float("nan"), "level_db is nan, not a finite number"),
    ],
)
def test_reader_settings_are_bounded(tmp_path, setting, value, message):
    source = _preset_checkpoint(tmp_path, "kws_synthetic")
    planted = _with(source, tmp_path / "r.ckpt", lambda h: h["reader"].update({setting: value}))
    with pytest.raises(CheckpointError, match=rf"r\.ckpt: refused to load: reader.*{message}"):
        seqrec.load(planted)


def test_declared_sizes_are_checked_against_the_weights_before_allocating(tmp_path):
    source = _preset_checkpoint(tmp_path, "kws_synthetic")
    planted = _with(
        source,
        tmp_path / "big.ckpt",
        lambda h: h["model_config"]["decoder"].update(hidden=20000, out_dim=40000),
    )
    with pytest.raises(
        CheckpointError, match=r"big\.ckpt: refused to load: model_config declares decoder\.rnn"
    ) as refusal:
        seqrec.load(planted)
    assert "(80000, " in str(refusal.value)  # 4 gates x 20000, not the weights' size
    missing = _with(
        source, tmp_path / "m.ckpt", lambda h: h["model_config"]["decoder"].update(num_layers=3)
    )
    with pytest.raises(CheckpointError, match=r"m\.ckpt: weights do not fit model_config: missing"):
        seqrec.load(missing)


def test_planted_files_fail_fast_in_little_memory(tmp_path):
    """``scripts/planted_files.py`` loads each planted file in a fresh process: each is
    refused with a CheckpointError naming it and the field, with no file written, no
    download, and a resident peak under 1 GB (the oversized decoder would take 13 GB)."""
    import json
    import subprocess
    import sys

    script = CONF_DIR.parent / "scripts" / "planted_files.py"
    out = subprocess.run(
        [sys.executable, str(script), "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(out.stdout.splitlines()[-1])
    assert {row["file"] for row in rows} == {
        "decoding_lm_path.ckpt",
        "reader_download.ckpt",
        "reader_weights_path.ckpt",
        "decoder_hidden_20000.ckpt",
        "reader_clip_seconds.ckpt",
    }
    for row in rows:
        assert row["error"] == "CheckpointError", row
        assert row["file"] in row["message"] and row["field"] in row["message"], row
        assert row["peak_rss_mb"] < 1024, row
        assert row["files_written"] == [] and row["downloads"] == 0, row


def test_a_corrupt_tokenizer_or_one_that_does_not_fit_the_head_is_refused(tmp_path, bpe):
    import base64

    source = _preset_checkpoint(tmp_path, "asr_synthetic")
    garbage = {"kind": "sentencepiece", "model": base64.b64encode(b"not a model").decode()}
    corrupt = _with(source, tmp_path / "c.ckpt", lambda h: h.update(tokenizer=garbage))
    with pytest.raises(
        CheckpointError, match=r"c\.ckpt: refused to load: tokenizer is not readable"
    ):
        seqrec.load(corrupt)
    other = _with(source, tmp_path / "s.ckpt", lambda h: h.update(tokenizer=bpe.state()))
    with pytest.raises(
        CheckpointError,
        match=r"s\.ckpt: refused to load: the tokenizer has \d+ classes .* but the CTC head has 29",
    ):
        seqrec.load(other)


def test_a_model_trained_with_an_lm_carries_it_and_loads_anywhere(tmp_path, monkeypatch):
    lm_dir = tmp_path / "lm"
    lm_dir.mkdir()
    (lm_dir / "text.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n")
    monkeypatch.chdir(lm_dir)  # a relative path, as a user gives it
    path = _preset_checkpoint(
        tmp_path, "asr_synthetic", ("decoding=beam_lm", "data.lm_text=text.txt")
    )
    wave = [torch.randn(16000, generator=torch.Generator().manual_seed(0)) * 0.1]
    lm = {
        "_target_": "seqrec.core.ctc_search.LexiconBeamSearch",
        "_partial_": True,
        "beam_size": 64,
    }
    user = seqrec.load(path, decoding={**lm, "lm_text": str(lm_dir / "text.txt")})
    expected = user.transcribe(wave)
    decoding = torch.load(path, weights_only=True)["hyper_parameters"]["decoding"]
    assert not {"lm_text", "lm_path", "lexicon"} & {k for k, v in decoding.items() if v is not None}
    assert decoding["words"] == ["the", "cat", "sat", "on", "mat", "dog", "log"]
    for f in lm_dir.iterdir():
        f.unlink()
    monkeypatch.chdir(tmp_path)
    model = seqrec.load(path)
    assert model.search.method == "beam_lm"
    assert model.transcribe(wave) == expected  # the LM inside, without its files
