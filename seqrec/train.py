"""``train(cfg)``: the whole training run as a plain function, called by ``seqrec-train``
and directly by tests."""

import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from seqrec.core.ctc_search import embed_decoding
from seqrec.inference.checkpoint import CheckpointError, read_checkpoint
from seqrec.tasks.callbacks import NONFINITE_STEPS, NonFiniteGuard, SkippedSampleReport
from seqrec.tasks.checkpointing import AtomicCheckpointIO, TopCheckpoints, average_checkpoints

log = logging.getLogger(__name__)
T = TypeVar("T")


def _plain(value: Any) -> Any:
    """Tensors and numpy scalars to Python numbers, for JSON."""
    return value.item() if hasattr(value, "item") else value


def _results(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``trainer.validate``/``test`` results (one dict per data loader) as one plain dict."""
    return {key: _plain(value) for result in results for key, value in result.items()}


def _choose_checkpoint(validation: dict[str, dict[str, Any]], monitor: str, mode: str) -> str:
    """``averaged`` when validated, unless its ``monitor`` is worse than ``best``'s."""
    if "averaged" not in validation:
        return "best"
    sign = 1 if mode == "max" else -1
    worse = sign * validation["averaged"][monitor] < sign * validation["best"][monitor]
    return "best" if worse else "averaged"


def resolve_resume_checkpoint(ckpt_path: str | None, checkpoint_dir: Path) -> str | None:
    """``ckpt_path=last`` means this run directory's ``checkpoints/last.ckpt``.

    The checkpoint is opened safely first (``weights_only``), so a file carrying a
    pickled payload is refused with a clear error before Lightning touches it.
    """
    if ckpt_path is None:
        return None
    path = checkpoint_dir / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = (
            " (ckpt_path=last resumes the run in hydra.run.dir=<run directory>)"
            if ckpt_path == "last"
            else ""
        )
        raise CheckpointError(f"{path}: no checkpoint to resume from{hint}")
    read_checkpoint(path)
    return str(path)


# What a finished or interrupted run leaves in its directory (Hydra's own .hydra/ and
# train.log are written anew by every run).
RUN_OUTPUTS = ("checkpoints", "metrics.json", "logs", "tensorboard", "confusion_matrix.png")


class RunDirectoryError(RuntimeError):
    """A run directory that already holds another run's outputs."""


def claim_run_directory(output_dir: Path, resuming: bool, overwrite: bool) -> None:
    """Refuse to start a new run in a directory that holds a previous run's outputs
    (:data:`RUN_OUTPUTS`), which it would overwrite in part (``last.ckpt``, the logs)
    and mix with its own (``metrics.json`` of one run beside ``best.ckpt`` of the
    other). Resuming (``ckpt_path``) continues that run; ``overwrite=true`` deletes
    those outputs first. Only the first process checks: under DDP the others start
    once it is running."""
    if resuming or int(os.environ.get("LOCAL_RANK", 0)) or int(os.environ.get("NODE_RANK", 0)):
        return
    previous = [name for name in RUN_OUTPUTS if _holds_output(output_dir / name)]
    if not previous:
        return
    if not overwrite:
        raise RunDirectoryError(
            f"{output_dir} holds a previous run ({', '.join(previous)}); resume it with "
            f"ckpt_path=last, train into another hydra.run.dir, or replace it with overwrite=true"
        )
    for name in previous:
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    log.warning(
        "overwrite=true: deleted the previous run's %s in %s", ", ".join(previous), output_dir
    )


def _holds_output(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def build_task(cfg: DictConfig, datamodule: pl.LightningDataModule) -> pl.LightningModule:
    """The task of ``cfg.task``, given the model and reader configs as plain dicts
    (stored in the checkpoint, so :func:`seqrec.load` rebuilds the model and reads
    files as training did), the decoding config for speech-to-text, and the label set or
    tokenizer the datamodule provides."""
    factory: partial = instantiate(cfg.task, _partial_=True)
    if cfg.get("decoding") is not None:  # speech-to-text: plain data, not the search it names
        # the LM and lexicon files it names travel in the checkpoint as data
        decoding = embed_decoding(OmegaConf.to_container(cfg.decoding, resolve=True))
        factory = partial(factory, decoding=decoding)
    return factory(
        model_config=OmegaConf.to_container(cfg.model, resolve=True),
        reader=OmegaConf.to_container(cfg.data.reader, resolve=True),
        **datamodule.task_targets(),  # the label set, or the tokenizer
    )


def build_callbacks(cfg: DictConfig, task: pl.LightningModule) -> list[pl.Callback]:
    """``cfg.callbacks`` in order. A partial (the checkpoint callbacks) is completed
    with the task's monitored metric and its mode."""
    callbacks = []
    for node in (cfg.get("callbacks") or {}).values():
        if node is None:
            continue
        callback = instantiate(node)
        if isinstance(callback, partial):
            callback = callback(monitor=task.monitor, mode=task.monitor_mode)
        callbacks.append(callback)
    return callbacks


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], output_dir: Path) -> pl.Trainer:
    """``cfg.trainer`` with the callbacks, the loggers of ``cfg.logger`` and atomic
    checkpoint writes, rooted in the run directory."""
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=[instantiate(node) for node in (cfg.get("logger") or {}).values()],
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(output_dir),
    )


def _find(callbacks: list[pl.Callback], kind: type[T]) -> T | None:
    """The callback of exactly this class (None when the config leaves it out)."""
    return next((c for c in callbacks if type(c) is kind), None)


@dataclass
class TrainResult:
    """What :func:`train` made: the final metrics (the numbers of ``metrics.json``),
    the objects it built, the checkpoint it tested and the run directory."""

    metrics: dict[str, float]
    trainer: pl.Trainer
    task: pl.LightningModule
    datamodule: pl.LightningDataModule
    checkpoint: str | None  # the tested one; None: the weights in memory (none was saved)
    output_dir: Path


def train(cfg: DictConfig) -> TrainResult:
    """Fit, choose the checkpoint, test it, and write metrics.json.

    The run directory ``cfg.paths.output_dir`` receives ``checkpoints/best.ckpt`` and
    ``checkpoints/last.ckpt``, ``config.yaml`` (resolved), ``metrics.json``, CSV and
    TensorBoard logs (``cfg.logger``), and the test confusion matrix.

    With ``average_checkpoints=N`` (N > 1), the N best checkpoints by the validation
    metric are kept in ``checkpoints/top/`` and averaged into
    ``checkpoints/averaged.ckpt``. Both it and ``best.ckpt`` are validated; the
    average is tested unless it validates worse.

    With no validation split (``data.val_manifest=null``) nothing is validated and
    there is no ``best.ckpt``: ``checkpoints/last.ckpt``, written when training
    ends, is tested.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = output_dir / "checkpoints"
    resume_from = resolve_resume_checkpoint(cfg.get("ckpt_path"), checkpoint_dir)
    claim_run_directory(output_dir, resume_from is not None, bool(cfg.get("overwrite")))
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    pl.seed_everything(cfg.seed, workers=True)

    # build
    datamodule: pl.LightningDataModule = instantiate(cfg.data)
    task = build_task(cfg, datamodule)
    log.info("model: %.3fM parameters", sum(p.numel() for p in task.parameters()) / 1e6)
    callbacks = build_callbacks(cfg, task)
    if not datamodule.has_validation:
        callbacks = _without_validation(callbacks, cfg.get("average_checkpoints", 1))
    trainer = build_trainer(cfg, callbacks, output_dir)

    # fit; the datamodule restores the sampler's place in the epoch, which this
    # Lightning check does not know about
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
    trainer.fit(task, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    metrics = {
        key: _plain(trainer.callback_metrics[key])
        for key in task.fit_summary_keys  # e.g. CTC's count of unalignable utterances
        if key in trainer.callback_metrics
    }

    # choose the checkpoint
    if datamodule.has_validation:
        choice = _validate_checkpoints(trainer, task, datamodule, callbacks, checkpoint_dir)
    else:
        choice = _last_checkpoint(trainer, checkpoint_dir)
    metrics.update(choice.validation[choice.chosen])

    # test it
    tested = trainer.test(
        task, datamodule=datamodule, ckpt_path=choice.path, verbose=False, weights_only=True
    )
    metrics.update(_results(tested))
    guard = _find(callbacks, NonFiniteGuard)
    metrics[NONFINITE_STEPS] = guard.skipped if guard else 0

    # report
    skips = _find(callbacks, SkippedSampleReport)
    loading_skips = skips.gathered_totals() if skips else {}  # every rank takes part
    if trainer.is_global_zero:
        summary = {
            **choice.summary(task.monitor),
            "global_step": trainer.global_step,
            **metrics,
            "data/skipped": {
                "manifest": datamodule.manifest_skips(),
                "loading": loading_skips,
            },
        }
        report(summary, metrics, output_dir)
    return TrainResult(metrics, trainer, task, datamodule, choice.path, output_dir)


@dataclass
class _CheckpointChoice:
    """The checkpoints validated after fitting, and the one chosen for the test."""

    # "best", and "averaged" with average_checkpoints=N; "last" alone with no validation
    paths: dict[str, str | None]
    averaged_from: list[str]
    validation: dict[str, dict[str, Any]]  # each one's validation metrics
    chosen: str

    @property
    def path(self) -> str | None:
        return self.paths[self.chosen]

    def summary(self, monitor: str) -> dict[str, Any]:
        """Its part of ``metrics.json``."""
        summary: dict[str, Any] = {
            "best_checkpoint": self.paths.get("best"),
            "evaluated_checkpoint": self.path,
        }
        if self.averaged_from:
            summary["averaged_from"] = [Path(p).name for p in self.averaged_from]
            summary["validation_by_checkpoint"] = {
                name: result.get(monitor) for name, result in self.validation.items()
            }
        return summary


def _validate_checkpoints(
    trainer: pl.Trainer,
    task: pl.LightningModule,
    datamodule: pl.LightningDataModule,
    callbacks: list[pl.Callback],
    checkpoint_dir: Path,
) -> _CheckpointChoice:
    """Validate the best checkpoint and the average of the top ones (when averaging),
    and choose between them."""
    best = _find(callbacks, ModelCheckpoint)
    paths = {"best": (best.best_model_path or None) if best else None}
    members = _average_top(trainer, _find(callbacks, TopCheckpoints), checkpoint_dir)
    if members:
        paths["averaged"] = str(checkpoint_dir / "averaged.ckpt")
    validation = {
        name: _results(
            trainer.validate(
                task, datamodule=datamodule, ckpt_path=path, verbose=False, weights_only=True
            )
        )
        for name, path in paths.items()
    }
    chosen = _choose_checkpoint(validation, task.monitor, task.monitor_mode)
    return _CheckpointChoice(paths, members, validation, chosen)


def _without_validation(callbacks: list[pl.Callback], average: int) -> list[pl.Callback]:
    """The callbacks less those that keep checkpoints by a validation metric, for a run
    with no validation split (Lightning is told that its empty validation is meant)."""
    if average > 1:
        raise ValueError(
            f"average_checkpoints={average} averages the best checkpoints by validation, "
            "and this run has no validation split (data.val_manifest=null)"
        )
    warnings.filterwarnings("ignore", message=".*Total length of `list` across ranks is zero.*")
    return [c for c in callbacks if not isinstance(c, ModelCheckpoint)]


def _last_checkpoint(trainer: pl.Trainer, checkpoint_dir: Path) -> _CheckpointChoice:
    """With no validation split: write ``last.ckpt`` as training ended and choose it
    (none under ``fast_dev_run``, which saves nothing: the weights in memory)."""
    path = None
    if not trainer.fast_dev_run:
        path = str(checkpoint_dir / "last.ckpt")
        trainer.save_checkpoint(path, weights_only=False)  # full state, as LastCheckpoint's
    log.info("no validation split: testing the weights training ended with (%s)", path)
    return _CheckpointChoice({"last": path}, [], {"last": {}}, "last")


def _average_top(
    trainer: pl.Trainer, top: TopCheckpoints | None, checkpoint_dir: Path
) -> list[str]:
    """Average the kept top checkpoints into ``checkpoint_dir/averaged.ckpt`` (rank 0
    writes, the others wait); returns the members, none when averaging is off."""
    members = sorted(top.best_k_models) if top is not None else []
    if len(members) < 2:
        return []
    if trainer.is_global_zero:
        average_checkpoints(members, checkpoint_dir / "averaged.ckpt")
    trainer.strategy.barrier()
    return members


def report(summary: dict[str, Any], metrics: dict[str, Any], output_dir: Path) -> None:
    """Write ``metrics.json`` and print the test metrics, any skipped samples and the
    run directory."""
    (output_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    headline = {
        k: round(v, 4)
        for k, v in metrics.items()
        if k.startswith("test/") and "/acc_class/" not in k
    }
    print(f"test metrics: {json.dumps(headline)}")
    skipped = sum(
        n
        for split in summary["data/skipped"].values()
        for counts in split.values()
        for n in counts.values()
    )
    if skipped:
        print(f"skipped samples: {json.dumps(summary['data/skipped'])}")
    print(f"run directory: {output_dir}")
