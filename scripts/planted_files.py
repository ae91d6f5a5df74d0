"""Load each planted checkpoint of the trust review in a fresh process and print what
happened: the error, its message, the seconds it took, the process's resident peak, the
files that appeared and the downloads attempted.

    python scripts/planted_files.py [WORK_DIR] [--json]

Each file is a small, valid classifier or speech-to-text checkpoint with one field
changed: a decoding that names an LM file, a reader setting holding a torchvision
backbone with downloadable weights, a reader setting holding a ``headless`` backbone
with a ``weights_path``, a decoder declared with 20,000 hidden units (about 13 GB),
and a reader whose clips are a million seconds long.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

CLASSIFIER = {
    "_target_": "seqrec.modules.SequenceModel",
    "frontend": {
        "_target_": "seqrec.modules.AudioFrontend",
        "featurizer": {"_target_": "seqrec.modules.LogMelSpectrogram", "n_mels": 16},
        "out_dim": 16,
    },
    "encoder": None,
    "decoder": {"_target_": "seqrec.modules.RecurrentDecoder", "input_dim": 16, "hidden": 8},
    "head": {"_target_": "seqrec.modules.ClassifierHead", "input_dim": 16, "num_classes": 2},
}
READER = {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": 16000}

# In the child: count downloads, load, report.
CHILD = """
import json, resource, sys, time, urllib.request
import torch.hub
downloads = []
torch.hub.load_state_dict_from_url = lambda *a, **k: downloads.append(a)
torch.hub.download_url_to_file = lambda *a, **k: downloads.append(a)
urllib.request.urlopen = lambda *a, **k: downloads.append(a)
import seqrec
start = time.perf_counter()
try:
    seqrec.load(sys.argv[1])
    error, message = None, ""
except Exception as e:
    error, message = type(e).__name__, str(e)
print(json.dumps({
    "error": error, "message": message, "seconds": round(time.perf_counter() - start, 3),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    "downloads": len(downloads),
}))
"""


def _save(path: Path, model_config: dict, hparams: dict) -> Path:
    from hydra.utils import instantiate

    model = instantiate(model_config)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    return path


def planted_files(folder: Path) -> list[tuple[Path, str]]:
    """The planted checkpoints, written into ``folder``, with the field each abuses."""
    folder.mkdir(parents=True, exist_ok=True)
    classifier = {"model_config": CLASSIFIER, "labels": ["a", "b"], "reader": READER}
    ctc = {
        **CLASSIFIER,
        "head": {"_target_": "seqrec.modules.CTCHead", "input_dim": 16, "num_classes": 29},
    }
    lm_text = folder / "any_text.txt"
    lm_text.write_text("words of any file on the machine\n")
    transcriber = {
        "model_config": ctc,
        "tokenizer": {"kind": "char"},
        "reader": READER,
        "decoding": {
            "_target_": "seqrec.core.ctc_search.LexiconBeamSearch",
            "_partial_": True,
            "lm_text": str(lm_text),
            "lm_order": 3,
        },
    }
    resnet = {"_target_": "torchvision.models.resnet18", "weights": "DEFAULT"}
    headless = {"_target_": "seqrec.modules.headless", "weights_path": str(lm_text)}
    big = {**CLASSIFIER, "decoder": {**CLASSIFIER["decoder"], "hidden": 20000}}
    files = [
        (_save(folder / "decoding_lm_path.ckpt", ctc, transcriber), "decoding.lm_text"),
        (
            _save(
                folder / "reader_download.ckpt",
                CLASSIFIER,
                {**classifier, "reader": {**READER, "level_db": resnet}},
            ),
            "reader.level_db",
        ),
        (
            _save(
                folder / "reader_weights_path.ckpt",
                CLASSIFIER,
                {**classifier, "reader": {**READER, "level_db": headless}},
            ),
            "reader.level_db",
        ),
        (
            _save(
                folder / "reader_clip_seconds.ckpt",
                CLASSIFIER,
                {**classifier, "reader": {**READER, "clip_seconds": 1e6}},
            ),
            "clip_seconds",
        ),
    ]
    # the weights of the small decoder, the config of the large one: 4 KB of weights
    small = folder / "decoder_hidden_20000.ckpt"
    _save(small, CLASSIFIER, {**classifier, "model_config": big})
    files.append((small, "model_config"))
    return files


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--json"]
    folder = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="planted_"))
    rows = []
    for path, field in planted_files(folder):
        before = set(folder.rglob("*"))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
        )
        row = json.loads(out.stdout.splitlines()[-1])
        written = sorted(str(p.relative_to(folder)) for p in set(folder.rglob("*")) - before)
        rows.append({"file": path.name, "field": field, "files_written": written, **row})
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print(f"{'file':28} {'error':16} {'s':>6} {'peak MB':>8} {'written':>8} {'downloads':>9}")
    for r in rows:
        print(
            f"{r['file']:28} {r['error']!s:16} {r['seconds']:6.2f} {r['peak_rss_mb']:8d} "
            f"{len(r['files_written']):8d} {r['downloads']:9d}"
        )
        print(f"    {r['message']}")


if __name__ == "__main__":
    main()
