"""Where the configs live, and the OmegaConf resolvers they use."""

from pathlib import Path

from omegaconf import OmegaConf

from seqrec.data.speech_commands import task_labels
from seqrec.modules.decoder import rnn_out_dim
from seqrec.text.tokenizers import ctc_num_classes

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def register_resolvers() -> None:
    """``${len:${data.labels}}``, ``${rnn_out_dim:hidden,bidirectional,proj_size}``,
    ``${speech_commands_labels:12}`` (the one list of each Speech Commands task's
    labels, :func:`~seqrec.data.speech_commands.task_labels`) and
    ``${ctc_num_classes:vocab_size}`` (tokens + the CTC blank)."""
    if not OmegaConf.has_resolver("len"):
        OmegaConf.register_new_resolver("len", lambda seq: len(seq))
    if not OmegaConf.has_resolver("rnn_out_dim"):
        OmegaConf.register_new_resolver("rnn_out_dim", rnn_out_dim)
    if not OmegaConf.has_resolver("speech_commands_labels"):
        OmegaConf.register_new_resolver("speech_commands_labels", task_labels)
    if not OmegaConf.has_resolver("ctc_num_classes"):
        OmegaConf.register_new_resolver("ctc_num_classes", ctc_num_classes)


def conf_dir() -> str:
    if not (CONF_DIR / "train.yaml").is_file():
        raise FileNotFoundError(
            f"seqrec configs not found at {CONF_DIR}; install seqrec from its repository with `pip install -e .`"
        )
    return str(CONF_DIR)
