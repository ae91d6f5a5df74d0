"""An exported model (``seqrec-export``) run with onnxruntime: the ``classify()`` and
``transcribe()`` of :mod:`seqrec.inference`, with the same signatures and results,
reading everything it needs from the file's ``seqrec.*`` metadata."""

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqrec import api
from seqrec.core import results
from seqrec.core.ctc_search import embed_decoding
from seqrec.core.resampling import check_sample_rate
from seqrec.core.safe_config import READER_TARGETS, check_decoding, check_reader, check_tree
from seqrec.core.waveform import check_finite, chunks_of, fit_clip, split_at_quiet_points
from seqrec.runtime.audio import read_audio
from seqrec.runtime.ctc import build_search

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
    :func:`seqrec.checkpoint.check_hyper_parameters` applies it to a checkpoint: the
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
) -> "OnnxClassifier | OnnxTranscriber":
    """An exported model: an :class:`OnnxClassifier` or an :class:`OnnxTranscriber`,
    run by onnxruntime on the CPU on ``threads`` threads (None: one per core).
    ``decoding`` replaces the file's decoding config, as in :func:`seqrec.load`."""
    if str(device) != "cpu":
        raise ValueError(f"seqrec.runtime runs on the CPU; got device={device!r}")
    session, meta = read_metadata(path, threads, ignore=("decoding",) if decoding else ())
    if meta["kind"] == "transcriber":
        if decoding:
            meta = {**meta, "decoding": decoding}
        return OnnxTranscriber(session, meta, source=path)
    if meta["kind"] == "classifier":
        return OnnxClassifier(session, meta, source=path)
    raise ExportedModelError(f"{path}: unknown kind {meta['kind']!r} in its metadata")


def run_batches(
    session: Any, sequences: Sequence[np.ndarray], batch_size: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """:func:`seqrec.inference.run_batches` on an onnxruntime session: shortest first,
    ``batch_size`` at a time, zero-padded; yields the indices, outputs and lengths."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(sequences)), key=lambda i: sequences[i].shape[0])
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        items = [sequences[i] for i in batch]
        lengths = np.array([s.shape[0] for s in items], dtype=np.int64)
        padded = np.zeros((len(items), int(lengths.max()), *items[0].shape[1:]), np.float32)
        for row, item in zip(padded, items, strict=True):
            row[: item.shape[0]] = item
        outputs, out_lengths = session.run(None, {"inputs": padded, "lengths": lengths})
        yield batch, outputs.astype(np.float32), out_lengths


class OnnxModel(api.ModelMethods):
    """What every exported model shares: the session, the metadata, and the reading of
    inputs by the reader settings the metadata holds."""

    file_kind = "exported model"

    def __init__(self, session: Any, meta: dict[str, Any], source: str | Path = "") -> None:
        self.session = session
        self.meta = meta
        self.source = str(source) or "this model"
        self.reader_config = meta["reader"]

    @property
    def modality(self) -> str:
        return self.meta["modality"]

    @property
    def sample_rate(self) -> int:
        if self.modality != "audio":
            raise AttributeError(f"{self.source}: a {self.modality} model has no sample rate")
        return int(self.meta["sample_rate"])

    def _fit(self, waveform: np.ndarray) -> np.ndarray:
        """The reader's clip format (:class:`seqrec.data.audio.AudioReader`:
        ``clip_seconds``, ``trim_db``, ``level_db``, ``placement``), by the same
        :func:`seqrec.core.waveform.fit_clip`."""
        settings = ("clip_seconds", "trim_db", "level_db")
        options = {key: self.reader_config.get(key) for key in settings}
        if all(value is None for value in options.values()):
            return waveform
        placement = self.reader_config.get("placement", "start")
        return fit_clip(waveform, self.sample_rate, placement=placement, **options)

    def prepare(self, item: Input, index: int | None = None) -> list[np.ndarray]:
        """One input as the list of sequences the model scores, as the reader's
        ``prepare`` gives it: a file's waveform, or an array checked (1-D, not empty,
        finite); an error names the file, or ``waveform <index>``."""
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
            return read_clips(item, self.reader_config)
        clip = np.asarray(item, dtype=np.float32)
        shape = tuple(self.meta["frame_shape"])
        if clip.ndim != 4 or clip.shape[1:] != shape:
            raise ValueError(
                f"a video clip for this model must be a (T, {', '.join(map(str, shape))}) "
                f"array, got shape {tuple(clip.shape)}"
            )
        return [clip]


class OnnxClassifier(api.Classifies, OnnxModel):
    """An exported sequence classifier: audio or video in, labels out."""

    kind = "classifier"

    def __init__(self, session: Any, meta: dict[str, Any], source: str | Path = "") -> None:
        super().__init__(session, meta, source)
        labels = meta.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ExportedModelError(f"{self.source}: seqrec.labels is not a list of strings")
        classes = session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(labels):
            raise ExportedModelError(
                f"{self.source}: refused to load: {len(labels)} labels but the network has "
                f"{classes} outputs"
            )
        self.labels = labels

    def posteriors(self, items: Sequence[Sequence[np.ndarray]], batch_size: int = 32) -> np.ndarray:
        """(N, C) class probabilities of inputs already prepared; the logits of an
        input's clips are averaged."""
        sequences = [clip for clips in items for clip in clips]
        owners = np.array([i for i, clips in enumerate(items) for _ in clips], dtype=np.int64)
        logits = np.zeros((len(sequences), len(self.labels)), np.float32)
        for batch, outputs, _ in run_batches(self.session, sequences, batch_size):
            logits[batch] = outputs
        summed = np.zeros((len(items), len(self.labels)), np.float32)
        np.add.at(summed, owners, logits)
        counts = np.bincount(owners, minlength=len(items)).astype(np.float32)[:, None]
        return _softmax(summed / counts)  # clip scores averaged per input


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class OnnxTranscriber(api.Transcribes, OnnxModel):
    """An exported CTC speech recogniser: audio in, text out, decoded as the
    metadata's decoding config says (:meth:`set_decoding` changes it).

    ``chunk_seconds``: recordings longer than this are cut at quiet points into chunks
    at most this long, transcribed as a batch and joined, as
    :class:`seqrec.inference.Transcriber` does.
    """

    kind = "speech-to-text model"

    def __init__(self, session: Any, meta: dict[str, Any], source: str | Path = "") -> None:
        super().__init__(session, meta, source)
        from seqrec.text.tokenizers import tokenizer_from_state

        try:
            self.tokenizer = tokenizer_from_state(meta["tokenizer"])
        except (KeyError, ValueError) as e:
            raise ExportedModelError(
                f"{self.source}: refused to load: seqrec.tokenizer is not readable ({e})"
            ) from None
        classes = session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != self.tokenizer.num_classes:
            raise ExportedModelError(
                f"{self.source}: refused to load: the tokenizer has "
                f"{self.tokenizer.num_classes} classes but the network has {classes} outputs"
            )
        self.frame_seconds = float(meta["frame_seconds"])
        self.chunk_seconds = float(meta.get("chunk_seconds", 30.0))
        self.set_decoding(meta.get("decoding"))

    def set_decoding(self, decoding: dict[str, Any] | None) -> None:
        """Decode with the search a decoding config names, as
        :meth:`seqrec.inference.Transcriber.set_decoding` does: greedy, ``beam`` or
        ``beam_lm`` (these two need flashlight-text). None means greedy."""
        self.decoding = embed_decoding(decoding)
        self.search = build_search(self.decoding, self.tokenizer, self.source)

    def transcripts(
        self, waveforms: Sequence[np.ndarray], batch_size: int = 16, with_times: bool = True
    ) -> list[results.Transcript]:
        """:class:`~seqrec.core.results.Transcript` of waveforms already read; word times if ``with_times``."""
        max_samples = round(self.chunk_seconds * self.sample_rate)
        chunks, owners, offsets = chunks_of(
            [np.asarray(w) for w in waveforms],
            lambda w: split_at_quiet_points(w, max_samples, self.sample_rate),
            self.sample_rate,
        )
        parts = [results.Transcript("") for _ in chunks]
        for batch, log_probs, out_lengths in run_batches(self.session, chunks, batch_size):
            hypotheses = self.search.decode(log_probs, out_lengths)
            for i, hypothesis in zip(batch, hypotheses, strict=True):
                parts[i] = results.chunk_transcript(
                    hypothesis, self.tokenizer, self.frame_seconds, offsets[i], with_times
                )
        return results.join_transcripts(parts, owners, len(waveforms))
