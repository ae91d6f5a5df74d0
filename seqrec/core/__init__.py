"""The torch-free base that the PyTorch side and the ONNX runtime (:mod:`seqrec.runtime`)
share: waveforms read and checked (:mod:`~seqrec.core.waveform`), audio a chunk at a time
(:mod:`~seqrec.core.audio_chunks`), resampling at bounded cost
(:mod:`~seqrec.core.resampling`), video frames (:mod:`~seqrec.core.video_frames`), strict
JSON Lines (:mod:`~seqrec.core.json_lines`), the loading policy for what a checkpoint or
an export carries (:mod:`~seqrec.core.safe_config`), what the models give
(:mod:`~seqrec.core.results`) and the CTC beam search (:mod:`~seqrec.core.ctc_search`).
Nothing here imports torch, Lightning or Hydra (import-linter checks it)."""
