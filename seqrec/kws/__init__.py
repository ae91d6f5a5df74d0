"""Keyword detection in a stream, torch-free, for every classifier (PyTorch or ONNX):

- :mod:`~seqrec.kws.settings`: a detector's settings and their JSON sidecar
  (``<model>.detect.json``);
- :mod:`~seqrec.kws.detector`: scoring a stream window by window (``score_track``) and
  deciding on keywords (``trigger``), as :meth:`seqrec.api.Classifies.detect` does;
- :mod:`~seqrec.kws.streams_manifest`: the streams manifest (a stream's keyword times);
- :mod:`~seqrec.kws.calibration`: per-keyword thresholds;
- :mod:`~seqrec.kws.det`: the threshold sweep and DET curve;
- :mod:`~seqrec.kws.evaluate`: scoring detections against the keyword times
  (``seqrec-eval-stream``).
"""
