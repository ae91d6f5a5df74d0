"""seqrec: speech and video sequence recognition with bidirectional LSTM/GRU decoders."""

__version__ = "0.1.0"

try:
    import torch  # noqa: F401
except ImportError:  # an install for exported models only: seqrec.runtime needs no torch
    from seqrec.runtime import Prediction, load

    __all__ = ["Prediction", "load"]
else:
    from seqrec.config import register_resolvers
    from seqrec.inference import Classifier, Prediction, load

    register_resolvers()

    __all__ = ["Classifier", "Prediction", "load"]
