"""An exported model (``seqrec-export``) run with onnxruntime: the same
:class:`seqrec.api.Classifier` and :class:`seqrec.api.Transcriber` that a checkpoint
loads into, with an onnxruntime session as their network (:class:`OnnxNetwork`) and a
reader built from the file's ``seqrec.*`` metadata (:class:`ExportReader`)."""

import json
from pathlib import Path
from typing import Any

import numpy as np

from seqrec.api import Classifier, Transcriber
from seqrec.core.resampling import check_sample_rate
from seqrec.core.safe_config import READER_TARGETS, check_decoding, check_reader, check_tree
from seqrec.core.series import MAX_SERIES_LENGTH, check_series, read_series
from seqrec.core.waveform import check_finite, fit_clip
from seqrec.runtime.audio import read_audio

Input = str | Path | np.ndarray


class ExportedModelError(RuntimeError):
    """An ONNX file that is not a usable seqrec export; the message names the file."""


def read_metadata(
    path: str | Path, threads: int | None = None, ignore: tuple[str, ...] = ()
) -> tuple[Any, dict[str, Any]]:
    """An onnxruntime session on ``path`` (on ``threads`` threads; None: onnxruntime's
    default, one per core) and its ``seqrec.*`` metadata, decoded and checked
    (:func:`check_metadata`; ``ignore`` names fields the caller replaces)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ExportedModelError(f"{path}: file not found")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ExportedModelError(f"{path}: not a readable ONNX model ({e})") from None
    raw = session.get_modelmeta().custom_metadata_map
    meta = {}
    for key, value in raw.items():
        if key.startswith("seqrec."):
            try:
                meta[key[len("seqrec.") :]] = json.loads(value)
            except ValueError as e:  # NaN and Infinity parse; check_metadata refuses them
                raise ExportedModelError(f"{path}: metadata {key} is not JSON ({e})") from None
    for key in ("kind", "modality", "reader", "inputs", "outputs"):
        if key not in meta:
            raise ExportedModelError(
                f"{path}: not a seqrec export (no seqrec.{key} in its metadata; "
                f"write it with seqrec-export)"
            )
    check_metadata({k: v for k, v in meta.items() if k not in ignore}, path)
    return session, meta


def check_metadata(meta: dict[str, Any], source: str | Path) -> None:
    """The loading policy of :mod:`seqrec.core.safe_config` for an export's metadata, as
    :func:`seqrec.inference.checkpoint.check_hyper_parameters` applies it to a checkpoint: the
    reader names only readers and its settings are bounded, the decoding names no file,
    and everything else is plain data with no ``_target_``."""
    for key, value in meta.items():
        where = f"seqrec.{key}"
        if key == "reader":
            check_tree(value, source, where, READER_TARGETS, ExportedModelError)
            if not isinstance(value, dict):
                raise ExportedModelError(f"{source}: refused to load: {where} is not a mapping")
            try:
                check_reader(value)
            except ValueError as e:
                raise ExportedModelError(f"{source}: refused to load: {where}: {e}") from None
        elif key == "decoding":
            if value is not None:
                check_decoding(value, source, ExportedModelError)
        else:
            check_tree(value, source, where, frozenset(), ExportedModelError)
    if meta.get("modality") == "audio" and "sample_rate" in meta:
        try:
            check_sample_rate(meta["sample_rate"], f"{source}: seqrec.sample_rate")
        except ValueError as e:
            raise ExportedModelError(f"{e}") from None


def load(
    path: str | Path,
    device: str = "cpu",
    threads: int | None = None,
    decoding: dict[str, Any] | None = None,
) -> Classifier | Transcriber:
    """An exported model: a :class:`~seqrec.api.Classifier` or a
    :class:`~seqrec.api.Transcriber`, run by onnxruntime on the CPU on ``threads``
    threads (None: one per core). ``decoding`` replaces the file's decoding config, as
    in :func:`seqrec.load`."""
    if str(device) != "cpu":
        raise ValueError(f"seqrec.runtime runs on the CPU; got device={device!r}")
    session, meta = read_metadata(path, threads, ignore=("decoding",) if decoding else ())
    if meta["kind"] == "transcriber":
        if decoding:
            meta = {**meta, "decoding": decoding}
        return exported_transcriber(session, meta, source=path)
    if meta["kind"] == "classifier":
        return exported_classifier(session, meta, source=path)
    raise ExportedModelError(f"{path}: unknown kind {meta['kind']!r} in its metadata")


class OnnxNetwork:
    """An onnxruntime session as a loaded model's network (:class:`seqrec.api.Network`):
    the export's ``inputs`` and ``lengths`` in, its outputs and their lengths out."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, inputs: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        outputs, out_lengths = self.session.run(None, {"inputs": inputs, "lengths": lengths})
        return outputs.astype(np.float32), out_lengths

    def num_outputs(self) -> int | str | None:
        """The size of the outputs' last axis as the file declares it (a name if dynamic)."""
        return self.session.get_outputs()[0].shape[-1]


class ExportReader:
    """The reader an export's metadata describes (:class:`seqrec.api.Reader`): audio
    read and fitted to the clip format of the checkpoint's
    :class:`~seqrec.data.audio.AudioReader` by the same
    :func:`~seqrec.core.waveform.fit_clip`, or video clips sampled as its
    :class:`~seqrec.data.video.ClipReader` samples them (:mod:`seqrec.runtime.video`).
    ``config`` is the metadata's reader config."""

    def __init__(self, meta: dict[str, Any], source: str | Path = "") -> None:
        self.config: dict[str, Any] = meta["reader"]
        self.modality: str = meta["modality"]
        self.source = str(source) or "this model"
        self._meta = meta

    @property
    def sample_rate(self) -> int:
        return int(self._meta["sample_rate"])

    @property
    def channels(self) -> int:
        return int(self._meta["channels"])

    @property
    def clip_seconds(self) -> float | None:
        return self.config.get("clip_seconds")

    def _fit(self, waveform: np.ndarray) -> np.ndarray:
        settings = ("clip_seconds", "trim_db", "level_db")
        options = {key: self.config.get(key) for key in settings}
        if all(value is None for value in options.values()):
            return waveform
        placement = self.config.get("placement", "start")
        return fit_clip(waveform, self.sample_rate, placement=placement, **options)

    def prepare(self, item: Input, index: int | None = None) -> list[np.ndarray]:
        """One input as the list of sequences the network scores: a file's waveform,
        or an array checked (1-D, not empty, finite); an error names the file, or
        ``waveform <index>``. A video file gives its clips; a series file (``.npy``) or
        array its (T, C) values."""
        if self.modality == "series":
            limit = int(self.config.get("max_length") or MAX_SERIES_LENGTH)
            if isinstance(item, str | Path):
                return [read_series(item, self.channels, limit)]
            name = "series" if index is None else f"series {index}"
            return [check_series(np.asarray(item), self.channels, name, limit)]
        if self.modality == "audio":
            if isinstance(item, str | Path):
                return [self._fit(read_audio(item, self.sample_rate))]
            name = "waveform" if index is None else f"waveform {index}"
            waveform = np.asarray(item, dtype=np.float32)
            if waveform.ndim != 1 or waveform.size == 0:
                raise ValueError(
                    f"{name}: a waveform must be a non-empty 1-D array at {self.sample_rate} "
                    f"Hz, got shape {tuple(waveform.shape)}"
                )
            return [self._fit(check_finite(waveform, name))]
        if isinstance(item, str | Path):
            try:
                from seqrec.runtime.video import read_clips  # PyAV: only for video files
            except ImportError as e:
                raise ImportError(
                    f"{item}: reading video files needs PyAV ({e}): pip install av"
                ) from None
            return read_clips(item, self.config)
        clip = np.asarray(item, dtype=np.float32)
        shape = tuple(self._meta["frame_shape"])
        if clip.ndim != 4 or clip.shape[1:] != shape:
            raise ValueError(
                f"a video clip for this model must be a (T, {', '.join(map(str, shape))}) "
                f"array, got shape {tuple(clip.shape)}"
            )
        return [clip]


FILE_KIND = "exported model"


def exported_classifier(session: Any, meta: dict[str, Any], source: str | Path = "") -> Classifier:
    """The classifier of an export's session and metadata, once its labels are checked
    against the network's outputs."""
    source = str(source) or "this model"
    labels = meta.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ExportedModelError(f"{source}: seqrec.labels is not a list of strings")
    network = OnnxNetwork(session)
    classes = network.num_outputs()
    if isinstance(classes, int) and classes != len(labels):
        raise ExportedModelError(
            f"{source}: refused to load: {len(labels)} labels but the network has {classes} outputs"
        )
    return Classifier(network, labels, ExportReader(meta, source), source, FILE_KIND)


def exported_transcriber(
    session: Any, meta: dict[str, Any], source: str | Path = ""
) -> Transcriber:
    """The speech recogniser of an export's session and metadata, once its tokenizer is
    read and checked against the network's outputs; decoded as the metadata's decoding
    config says (``set_decoding`` changes it)."""
    from seqrec.text.tokenizers import tokenizer_from_state

    source = str(source) or "this model"
    try:
        tokenizer = tokenizer_from_state(meta["tokenizer"])
    except (KeyError, ValueError) as e:
        raise ExportedModelError(
            f"{source}: refused to load: seqrec.tokenizer is not readable ({e})"
        ) from None
    network = OnnxNetwork(session)
    classes = network.num_outputs()
    if isinstance(classes, int) and classes != tokenizer.num_classes:
        raise ExportedModelError(
            f"{source}: refused to load: the tokenizer has "
            f"{tokenizer.num_classes} classes but the network has {classes} outputs"
        )
    return Transcriber(
        network,
        tokenizer,
        ExportReader(meta, source),
        frame_seconds=float(meta["frame_seconds"]),
        decoding=meta.get("decoding"),
        chunk_seconds=float(meta.get("chunk_seconds", 30.0)),
        source=source,
        file_kind=FILE_KIND,
    )
