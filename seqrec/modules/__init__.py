"""Plain ``nn.Module`` building blocks; none of them depends on Lightning."""

from seqrec.modules.decoder import RecurrentDecoder
from seqrec.modules.features import MFCC, AudioFrontend, LogMelSpectrogram, SpecAugment
from seqrec.modules.heads import ClassifierHead, MaskedPooling
from seqrec.modules.models import SequenceClassifier
from seqrec.modules.subsampling import ConvSubsampling

__all__ = [
    "MFCC",
    "AudioFrontend",
    "ClassifierHead",
    "ConvSubsampling",
    "LogMelSpectrogram",
    "MaskedPooling",
    "RecurrentDecoder",
    "SequenceClassifier",
    "SpecAugment",
]
