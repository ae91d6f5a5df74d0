"""Export a trained model to ONNX, with the feature front end inside the graph.

The file takes what the PyTorch model takes, raw waveforms (B, S) or frames
(B, T, C, H, W) with their lengths, and gives what it gives: class logits (B, C) or
CTC log-probabilities (B, T', V), with the output lengths. Batch and time are
dynamic. Its metadata (``seqrec.*`` keys, each a JSON string) holds the labels or the
tokenizer, the reader's config, the sample rate, the output frame length and the
decoding config, so the file alone is enough for :mod:`seqrec.runtime`::

    export_onnx(seqrec.load("best.ckpt"), "model.onnx", quantize="int8")

Export uses ``torch.onnx.export(dynamo=True)`` on an :class:`ExportGraph` that runs the
model's own modules, with four export-only paths that give the same numbers:

- the mel spectrogram takes each frame's windowed DFT as one matrix product
  (:class:`MelByMatmul`), which onnxruntime runs faster than its ``STFT`` op.

- the recurrent decoder runs as :meth:`RecurrentDecoder.run_layer_by_layer` does, but
  through the opaque ops ``seqrec::lstm`` and ``seqrec::gru``, translated to ONNX
  LSTM/GRU. ``torch.export`` traces ``torch.lstm``/``torch.gru`` through their Python
  time loop, which fixes the number of frames to the example's (torch 2.11).
- a waveform shorter than one FFT window (or one window of the speech embedding) is
  padded to one in the graph (the log-mel front end does the same with a Python ``if``,
  which export would freeze).
- a frame encoder runs its backbone on every frame, padding included, and zeroes the
  padded outputs, instead of selecting real frames with a boolean mask (a data-dependent
  shape). Backbones are in eval mode, so a frame's output does not depend on the others.
"""

import contextlib
import copy
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqrec.modules import (
    AudioFrontend,
    ClassifierHead,
    CTCHead,
    FrameEncoder,
    FramePooling,
    RecurrentDecoder,
    SeriesFrontend,
    SpeechEmbedding,
)
from seqrec.modules.masking import zero_padding

OPSET = 18
INPUT_NAMES = ("inputs", "lengths")
OUTPUT_NAMES = ("outputs", "output_lengths")
FORMAT_VERSION = 1
QUANTIZE_CHOICES = (None, "int8")
FOLD_LIMIT = 1 << 26  # elements: constant tensors up to this size are precomputed


class ExportError(RuntimeError):
    """A model, or a part of one, that seqrec cannot export; the message names it."""


# --- the recurrent cells as opaque ops ------------------------------------------------


# the signature of torch.lstm and torch.gru, which differ only in the hidden state
_RNN_SCHEMA = (
    "(Tensor input, {hx} hx, Tensor[] params, bool has_biases, int num_layers, float dropout, "
    "bool train, bool bidirectional, bool batch_first) -> ({outputs})"
)


def _rnn_shapes(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, *_):
    """The shapes of what ``torch.lstm``/``torch.gru`` return: the output (B, T, D * H)
    and the final states, shaped as the initial ones."""
    states = hx if isinstance(hx, list | tuple) else [hx]
    directions = 2 if bidirectional else 1
    y = input.new_empty(*input.shape[:2], directions * states[0].shape[-1])
    return (y, *[h.new_empty(h.shape) for h in states])


def _opaque(name: str, rnn: Callable[..., tuple], hx: str, outputs: str) -> Any:
    """``rnn`` as the op ``seqrec::<name>``, which export sees as one op."""
    schema = _RNN_SCHEMA.format(hx=hx, outputs=outputs)
    op = torch.library.custom_op(f"seqrec::{name}", rnn, mutates_args=(), schema=schema)
    op.register_fake(_rnn_shapes)
    return op


_lstm = _opaque("lstm", torch.lstm, "Tensor[]", "Tensor, Tensor, Tensor")
_gru = _opaque("gru", torch.gru, "Tensor", "Tensor, Tensor")


def _translations() -> dict:
    """The ONNX for the two ops: onnxscript's own translations of aten lstm and gru,
    whose signatures they share."""
    from onnxscript.function_libs.torch_lib.ops.core import aten_gru, aten_lstm

    return {torch.ops.seqrec.lstm.default: aten_lstm, torch.ops.seqrec.gru.default: aten_gru}


def recurrent_for_export(decoder: RecurrentDecoder, x: Tensor, lengths: Tensor) -> Tensor:
    """:class:`RecurrentDecoder` in eval mode, (B, T, F) -> (B, T, out_dim), on the
    padded batch: its CPU path (:meth:`RecurrentDecoder.run_layer_by_layer`), with the
    same parameters, through ``seqrec::lstm``/``seqrec::gru``."""
    op = torch.ops.seqrec.lstm if isinstance(decoder.rnn, nn.LSTM) else torch.ops.seqrec.gru
    y = zero_padding(decoder.run_layer_by_layer(x, lengths, op), lengths)  # (B, T, rnn_dim)
    return decoder.project(y, lengths)


# --- the front end's spectrum as a matrix product ------------------------------------


class MelByMatmul(nn.Module):
    """torchaudio's ``MelSpectrogram`` (power 2, ``center=False``), (B, S) -> (B, n_mels,
    T), with the windowed DFT of each frame as one matrix product: the same numbers to
    float rounding. onnxruntime 1.32 runs its ``STFT`` op at about 17 us per 512-point
    frame on one thread, against 7 us for this product (over the window's non-zero
    samples only, 400 of 512 at 16 kHz)."""

    def __init__(self, mel: nn.Module) -> None:
        super().__init__()
        spectrogram = mel.spectrogram
        if spectrogram.center or spectrogram.power != 2.0 or spectrogram.normalized:
            raise ExportError("the front end's spectrogram must be power 2 with center=False")
        n_fft, win = spectrogram.n_fft, spectrogram.win_length
        self.n_fft, self.hop = n_fft, spectrogram.hop_length
        self.start = (n_fft - win) // 2  # torch.stft centres the window in the frame
        offsets = torch.arange(self.start, self.start + win, dtype=torch.float64)
        bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * torch.pi * offsets[:, None] * bins[None, :] / n_fft  # (win, F)
        window = spectrogram.window.double()[:, None]
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1) * window
        self.register_buffer("basis", basis.float())  # (win, 2F)
        self.register_buffer("offsets", torch.arange(self.start, self.start + win))
        self.register_buffer("filterbank", mel.mel_scale.fb.float())  # (F, n_mels)

    def forward(self, audio: Tensor) -> Tensor:
        frames = (audio.shape[1] - self.n_fft) // self.hop + 1
        starts = torch.arange(frames, device=audio.device) * self.hop
        samples = audio[:, starts[:, None] + self.offsets[None, :]]  # (B, T, win)
        spectrum = samples @ self.basis  # (B, T, 2F): real parts, then imaginary
        real, imag = spectrum.chunk(2, dim=-1)
        power = real * real + imag * imag
        return (power @ self.filterbank).transpose(1, 2)  # (B, n_mels, T)


def _spectra_by_matmul(model: nn.Module) -> None:
    """Swap the audio front end's mel spectrogram for :class:`MelByMatmul`, in place."""
    featurizer = getattr(model.frontend, "featurizer", None)
    if featurizer is not None and hasattr(featurizer, "mel"):
        featurizer.mel = MelByMatmul(featurizer.mel)


# --- the graph -------------------------------------------------------------------------


class ExportGraph(nn.Module):
    """A :class:`~seqrec.modules.SequenceModel` in eval mode as it is exported:
    ``(inputs, lengths) -> (outputs, output_lengths)`` with the same numbers."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for part in ("frontend", "decoder", "head"):
            if not hasattr(model, part):
                raise ExportError(f"{type(model).__name__} is not a seqrec SequenceModel")
        self.model = model.eval()
        frontend, decoder, head = model.frontend, model.decoder, model.head
        if not isinstance(
            frontend, AudioFrontend | SpeechEmbedding | FrameEncoder | SeriesFrontend
        ):
            raise ExportError(f"cannot export the frontend {type(frontend).__name__}")
        if not isinstance(decoder, RecurrentDecoder | FramePooling):
            raise ExportError(f"cannot export the decoder {type(decoder).__name__}")
        if not isinstance(head, ClassifierHead | CTCHead):
            raise ExportError(f"cannot export the head {type(head).__name__}")
        self.modality = (
            "video"
            if isinstance(frontend, FrameEncoder)
            else "series"
            if isinstance(frontend, SeriesFrontend)
            else "audio"
        )

    def forward(self, inputs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        model = self.model
        if self.modality == "audio":
            window = shortest_input(model.frontend)
            short = torch.sym_max(0, window - inputs.shape[1])  # silence up to one window
            x, lengths = model.frontend(nn.functional.pad(inputs, (0, short)), lengths)
        elif self.modality == "series":
            x, lengths = model.frontend(inputs, lengths)
        else:
            x, lengths = _frames_for_export(model.frontend, inputs, lengths)
        if model.encoder is not None:
            x, lengths = model.encoder(x, lengths)
        if isinstance(model.decoder, RecurrentDecoder):
            x = recurrent_for_export(model.decoder, x, lengths)
        else:
            x, lengths = model.decoder(x, lengths)
        outputs, out_lengths = model.head(x, lengths)
        return outputs, out_lengths + 0  # a new tensor: an output may not be an input


def shortest_input(frontend: nn.Module) -> int:
    """Samples an audio front end reads at least: one FFT window, or one window of
    :class:`SpeechEmbedding`."""
    if isinstance(frontend, SpeechEmbedding):
        return frontend.min_samples
    return frontend.featurizer.n_fft


def _frames_for_export(
    encoder: FrameEncoder, frames: Tensor, lengths: Tensor
) -> tuple[Tensor, Tensor]:
    """:class:`FrameEncoder`, (B, T, C, H, W) -> (B, T, D), run on every frame."""
    batch, time = frames.shape[:2]
    features = encoder.backbone(frames.flatten(0, 1))  # (B * T, D)
    return zero_padding(features.view(batch, time, -1), lengths), lengths


# --- metadata --------------------------------------------------------------------------

_READER_TARGETS = {
    "AudioReader": "seqrec.data.audio.AudioReader",
    "ClipReader": "seqrec.data.video.ClipReader",
    "ClipTransform": "seqrec.data.video.ClipTransform",
    "SeriesReader": "seqrec.data.time_series.SeriesReader",
}


def reader_config(reader: Any) -> dict[str, Any]:
    """The ``_target_`` config of a reader (what a checkpoint's ``reader`` holds).

    >>> from seqrec.data.audio import AudioReader
    >>> reader_config(AudioReader(8000))
    {'_target_': 'seqrec.data.audio.AudioReader', 'sample_rate': 8000, 'clip_seconds': None, 'trim_db': None, 'level_db': None, 'placement': 'start'}
    """
    name = type(reader).__name__
    if name not in _READER_TARGETS:
        raise ExportError(f"cannot describe the reader {name} in the ONNX metadata")
    config: dict[str, Any] = {"_target_": _READER_TARGETS[name]}
    for f in dataclasses.fields(reader):
        value = getattr(reader, f.name)
        config[f.name] = reader_config(value) if dataclasses.is_dataclass(value) else _plain(value)
    return config


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def export_metadata(loaded: Any) -> dict[str, str]:
    """The ``seqrec.*`` metadata of an export of ``loaded`` (a
    :class:`~seqrec.api.Classifier` or :class:`~seqrec.api.Transcriber` loaded from a checkpoint),
    each value a JSON string."""
    reader = loaded.reader
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "version": _seqrec_version(),
        "modality": reader.modality,
        "reader": reader_config(reader),
        "inputs": list(INPUT_NAMES),
        "outputs": list(OUTPUT_NAMES),
        "source": Path(str(loaded.source)).name,
    }
    if reader.modality == "audio":
        meta["sample_rate"] = reader.sample_rate
        meta["min_samples"] = 1
    elif reader.modality == "series":
        meta["channels"] = reader.channels
    else:
        size = reader.transform.size
        meta["frame_shape"] = [3, size, size]
    if hasattr(loaded, "tokenizer"):
        meta["kind"] = "transcriber"
        meta["tokenizer"] = loaded.tokenizer.state()
        meta["decoding"] = loaded.decoding
        meta["frame_seconds"] = loaded.frame_seconds
        meta["chunk_seconds"] = loaded.chunk_seconds
    else:
        meta["kind"] = "classifier"
        meta["labels"] = list(loaded.labels)
    return {f"seqrec.{key}": json.dumps(value) for key, value in meta.items()}


def _seqrec_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("seqrec")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


# --- export ----------------------------------------------------------------------------


def example_inputs(loaded: Any) -> tuple[Tensor, Tensor]:
    """A batch of two inputs of different lengths to trace with (1 s of audio, or the
    reader's frames per clip)."""
    reader = loaded.reader
    if reader.modality == "audio":
        samples = reader.sample_rate
        return torch.randn(2, samples) * 0.1, torch.tensor([samples, samples * 3 // 5])
    if reader.modality == "series":
        return torch.randn(2, 40, reader.channels), torch.tensor([40, 23])
    frames = max(reader.num_frames, 3)
    size = reader.transform.size
    return torch.randn(2, frames, 3, size, size), torch.tensor([frames, frames - 1])


def export_onnx(loaded: Any, out: str | Path, quantize: str | None = None) -> Path:
    """Write ``loaded`` (from :func:`seqrec.load`) to the ONNX file ``out``, weights
    included, with its metadata; ``quantize="int8"`` then applies onnxruntime's dynamic
    int8 quantisation to the weights. Returns ``out``."""
    if quantize not in QUANTIZE_CHOICES:
        raise ExportError(f"quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(loaded.network.model).cpu().eval()  # the loaded model stays as it is
    _spectra_by_matmul(model)
    graph = ExportGraph(model).eval()
    inputs, lengths = example_inputs(loaded)
    batch = torch.export.Dim("batch")
    time = torch.export.Dim({"audio": "samples", "series": "steps"}.get(graph.modality, "frames"))
    dynamic = {"inputs": {0: batch, 1: time}, "lengths": {0: batch}}
    with torch.no_grad(), _quiet("onnxscript", "onnx_ir", "torch.onnx"):
        program = torch.onnx.export(
            graph,
            (inputs, lengths),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            opset_version=OPSET,
            custom_translation_table=_translations(),
            external_data=False,
            verbose=False,
        )
    import onnxscript

    # fold the gate reordering of the recurrent weights into initializers (the default
    # limit skips tensors this large), so that int8 quantisation finds the weights
    onnxscript.optimizer.optimize(
        program.model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT
    )
    proto = program.model_proto
    audio = graph.modality == "audio"
    _set_metadata(proto, {**export_metadata(loaded), "seqrec.quantized": json.dumps(quantize)})
    import onnx

    if quantize is None:
        onnx.save(proto, out)
        return out
    float_file = out.with_name(out.stem + ".float.onnx")
    onnx.save(proto, float_file)
    try:
        quantize_int8(float_file, out, exclude=_front_end_nodes(proto) if audio else ())
    finally:
        float_file.unlink(missing_ok=True)
    quantized = onnx.load(out)
    _set_metadata(quantized, {p.key: p.value for p in proto.metadata_props})
    onnx.save(quantized, out)
    return out


PARITY_ATOL = 1e-4  # largest |ONNX - PyTorch| of a float export's logits or log-probs


def check_lengths(loaded: Any) -> list[int]:
    """Input lengths an export is checked on: the shortest the front end takes, one
    under its shortest window, and lengths shorter and longer than the export's example."""
    reader = loaded.reader
    if reader.modality == "audio":
        rate = reader.sample_rate
        return [1, shortest_input(loaded.network.model.frontend) - 1, rate // 10, rate, 3 * rate]
    if reader.modality == "series":
        return [1, 7, 40, 150]
    return [1, reader.num_frames, 2 * reader.num_frames + 1]


def max_difference(loaded: Any, path: str | Path, lengths: Sequence[int], seed: int = 0) -> float:
    """The largest |ONNX - PyTorch| output of the file at ``path`` against ``loaded``,
    on random inputs of ``lengths``, each alone and all in one padded batch."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    device = next(loaded.network.model.parameters()).device
    modality = loaded.reader.modality
    shape = (
        ()
        if modality == "audio"
        else (loaded.reader.channels,)
        if modality == "series"
        else (3, *[loaded.reader.transform.size] * 2)
    )
    items = [0.1 * torch.randn(n, *shape, generator=generator) for n in lengths]
    batches = [[item] for item in items] + [items]
    worst = 0.0
    for batch in batches:
        n = torch.tensor([item.shape[0] for item in batch])
        x = torch.zeros(len(batch), int(n.max()), *shape)
        for row, item in zip(x, batch, strict=True):
            row[: item.shape[0]] = item
        with torch.no_grad():
            expected, expected_lengths = (
                t.cpu() for t in loaded.network.model.eval()(x.to(device), n)
            )
        got, got_lengths = session.run(None, {"inputs": x.numpy(), "lengths": n.numpy()})
        if not np.array_equal(got_lengths, expected_lengths.numpy()):
            raise ExportError(f"{path}: output lengths {got_lengths} instead of {expected_lengths}")
        worst = max(worst, float(np.abs(got - expected.numpy()).max()))
    return worst


def check_export(loaded: Any, path: str | Path) -> str:
    """Compare the file with PyTorch (:func:`max_difference` at :func:`check_lengths`);
    a float export that differs by more than :data:`PARITY_ATOL` is an error."""
    lengths = check_lengths(loaded)
    worst = max_difference(loaded, path, lengths)
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    quantized = json.loads(meta.get("seqrec.quantized", "null"))
    if quantized is None and worst > PARITY_ATOL:
        raise ExportError(
            f"{path}: outputs differ from PyTorch by up to {worst:.2e} (more than "
            f"{PARITY_ATOL:g}) on inputs of lengths {lengths}"
        )
    return f"max |onnx - torch| = {worst:.2e} on lengths {lengths}, alone and batched"


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """The exporter's optimiser logs every constant it folds at INFO: keep to warnings."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.level, logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# onnxruntime's dynamic quantisation, op by op: MatMul and Gemm become MatMulInteger,
# LSTM DynamicQuantizeLSTM. Conv is left float: its ConvInteger ran slower than the
# float Conv here (x86-64 with AVX2, no VNNI; onnxruntime 1.32), 4x slower in the video
# CNN. GRU has no quantised kernel in onnxruntime.
INT8_OPS = ("MatMul", "Gemm", "LSTM")


def quantize_int8(source: str | Path, out: str | Path, exclude: Sequence[str] = ()) -> None:
    """onnxruntime's dynamic quantisation: int8 weights for the :data:`INT8_OPS`,
    activations quantised on the fly. The nodes named in ``exclude`` stay float."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(INT8_OPS),
        nodes_to_exclude=list(exclude),
    )


def _front_end_nodes(proto: Any) -> list[str]:
    """The nodes of the audio front end: its DFT and mel filterbank products stay float,
    as quantising them would move every feature (the front end has no trained weights)."""
    names = []
    for node in proto.graph.node:
        scopes = {p.value for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"}
        if any("'model.frontend'" in scope for scope in scopes):
            names.append(node.name)
    return names


def _set_metadata(proto: Any, values: dict[str, str]) -> None:
    keep = [p for p in proto.metadata_props if p.key not in values]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for key, value in values.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
