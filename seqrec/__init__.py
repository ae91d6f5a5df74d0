"""seqrec: speech and video sequence recognition with bidirectional LSTM/GRU decoders."""

__version__ = "0.1.0"

try:
    import torch  # noqa: F401
except ImportError:  # an install for exported models only: seqrec.runtime needs no torch
    from seqrec.api import Classifier, Transcriber
    from seqrec.runtime import Prediction, load

    __all__ = ["Classifier", "Prediction", "Transcriber", "load"]
else:
    from seqrec.api import Classifier, Transcriber
    from seqrec.config import register_resolvers
    from seqrec.inference import Prediction, load

    register_resolvers()

    __all__ = ["Classifier", "Prediction", "Transcriber", "load"]
