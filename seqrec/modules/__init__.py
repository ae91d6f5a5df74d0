"""Plain ``nn.Module`` building blocks; none of them depends on Lightning."""

from seqrec.modules.decoder import RecurrentDecoder
from seqrec.modules.features import MFCC, PCEN, AudioFrontend, LogMelSpectrogram, SpecAugment
from seqrec.modules.frame_encoders import (
    FrameEncoder,
    FramePooling,
    SmallCNN,
    headless,
    torchvision_backbone,
)
from seqrec.modules.heads import ClassifierHead, CTCHead, MaskedPooling
from seqrec.modules.models import SequenceModel
from seqrec.modules.series import ConvBlocks, MaskedBatchNorm1d, SeriesFrontend
from seqrec.modules.speech_embedding import SpeechEmbedding
from seqrec.modules.subsampling import ConvSubsampling

__all__ = [
    "MFCC",
    "PCEN",
    "AudioFrontend",
    "CTCHead",
    "ClassifierHead",
    "ConvBlocks",
    "ConvSubsampling",
    "FrameEncoder",
    "FramePooling",
    "LogMelSpectrogram",
    "MaskedBatchNorm1d",
    "MaskedPooling",
    "RecurrentDecoder",
    "SequenceModel",
    "SeriesFrontend",
    "SmallCNN",
    "SpecAugment",
    "SpeechEmbedding",
    "headless",
    "torchvision_backbone",
]
