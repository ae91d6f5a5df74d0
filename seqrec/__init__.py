"""seqrec: speech and video sequence recognition with bidirectional LSTM/GRU decoders."""

from seqrec.config import register_resolvers
from seqrec.inference import Classifier, Prediction, load

register_resolvers()

__all__ = ["Classifier", "Prediction", "load"]
__version__ = "0.1.0"
