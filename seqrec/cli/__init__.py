"""Console scripts: seqrec-train, seqrec-eval, seqrec-predict, seqrec-validate."""

from typing import Any

# options that only a speech-to-text checkpoint uses, and the value that means unset
SPEECH_TO_TEXT_OPTIONS = {
    "decoding": None,
    "word_times": False,
    "lm_text": None,
    "known_words": None,
}


def refuse_unused_options(prog: str, cfg: Any, model: Any) -> None:
    """Exit with a one-line message when ``cfg`` sets an option that ``model`` would
    silently ignore: decoding or word times for a classifier, frame shuffling for
    audio."""
    from seqrec.api import Transcribes

    def refuse(option: str, wants: str) -> None:
        raise SystemExit(f"{prog}: {option}= applies to {wants}; {cfg.ckpt_path} is a {model.kind}")

    if not isinstance(model, Transcribes):
        for option, unset in SPEECH_TO_TEXT_OPTIONS.items():
            if option in cfg and cfg.get(option) not in (unset, None, False):
                refuse(option, "speech-to-text (CTC) checkpoints")
    if cfg.get("shuffle_frames") and getattr(model, "modality", "audio") != "video":
        refuse("shuffle_frames", "video classifiers")


def load_model(cfg: Any) -> Any:
    """The model ``cfg.ckpt_path`` names, a checkpoint or an exported ``.onnx`` file, on
    ``cfg.device``, with ``cfg.threads`` (when set) for PyTorch and onnxruntime alike.
    A ``cfg.decoding`` (speech-to-text) replaces the file's, which is then not built."""
    import torch
    from omegaconf import OmegaConf

    import seqrec

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    decoding = cfg.get("decoding")
    if decoding:
        decoding = OmegaConf.to_container(decoding, resolve=True)
    return seqrec.load(cfg.ckpt_path, device=cfg.device, threads=cfg.threads, decoding=decoding)
