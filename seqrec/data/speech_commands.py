"""Google Speech Commands v2 from its own folder layout to manifests.

The layout: one folder per word holding 1 s wav files named ``<speaker>_nohash_<n>.wav``,
``validation_list.txt`` and ``testing_list.txt`` (paths relative to the root) and
``_background_noise_/`` with long noise recordings. Files in neither list train.

Tasks:
- ``35``: the 35 words.
- ``12``: ``yes no up down left right on off stop go``, ``_unknown_`` (the other words,
  subsampled to ``unknown_share`` of each split as in the TensorFlow reference
  pipeline) and ``_silence_`` (1 s segments cut from the background noise, written by
  this preparer; each noise file is cut in three parts, 80/10/10 % for train,
  validation and test, so no split hears another's segment).
"""

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import DatasetLayoutError, is_prepared, mark_prepared

WORDS_35 = (
    "backward",
    "bed",
    "bird",
    "cat",
    "dog",
    "down",
    "eight",
    "five",
    "follow",
    "forward",
    "four",
    "go",
    "happy",
    "house",
    "learn",
    "left",
    "marvin",
    "nine",
    "no",
    "off",
    "on",
    "one",
    "right",
    "seven",
    "sheila",
    "six",
    "stop",
    "three",
    "tree",
    "two",
    "up",
    "visual",
    "wow",
    "yes",
    "zero",
)
WORDS_10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"


def task_labels(task: int) -> list[str]:
    """The label set of a task, in class-index order: the 35 words, or the 10 command
    words with ``_silence_`` and ``_unknown_`` (the configs read it as
    ``${speech_commands_labels:12}``).

    >>> task_labels(12)[-3:], len(task_labels(35))
    (['go', '_silence_', '_unknown_'], 35)
    """
    if int(task) == 35:
        return list(WORDS_35)
    if int(task) == 12:
        return [*WORDS_10, SILENCE, UNKNOWN]
    raise ValueError(f"Speech Commands task must be 12 or 35, got {task!r}")


SPLITS = ("train", "val", "test")


@dataclass
class SpeechCommandsPreparer:
    """Write ``train.jsonl``, ``val.jsonl`` and ``test.jsonl`` for one task into ``out_dir``.

    Args:
        root: the extracted dataset (holding ``validation_list.txt``).
        out_dir: where manifests (and ``_silence_`` clips) go.
        task: 35 or 12.
        unknown_share: for task 12, ``_unknown_`` clips as a share of each split's
            word clips.
        silence_share: for task 12, ``_silence_`` clips likewise.
        seed: for the ``_unknown_`` subsample and silence positions.
    """

    root: str
    out_dir: str
    task: int = 12
    unknown_share: float = 0.1
    silence_share: float = 0.1
    seed: int = 0

    def __call__(self) -> Path:
        root, out_dir = Path(self.root), Path(self.out_dir)
        if self.task not in (12, 35):
            raise ValueError(f"Speech Commands task must be 12 or 35, got {self.task}")
        settings = {**asdict(self), "root": str(root.resolve()), "out_dir": None}
        marker = out_dir / "prepared.json"
        if is_prepared(marker, settings):
            return out_dir
        for required in ("validation_list.txt", "testing_list.txt"):
            if not (root / required).is_file():
                raise DatasetLayoutError(
                    f"{root}: no {required}; is this the Speech Commands v2 folder?"
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)

        rows = self._word_rows(root)
        if self.task == 12:
            rng = random.Random(self.seed)
            for split in SPLITS:
                known = [r for r in rows[split] if r["label"] in WORDS_10]
                others = [r for r in rows[split] if r["label"] not in WORDS_10]
                n_unknown = min(len(others), round(self.unknown_share * len(known)))
                unknown = [{**r, "label": UNKNOWN} for r in rng.sample(others, n_unknown)]
                n_silence = round(self.silence_share * len(known))
                rows[split] = (
                    known + unknown + self._silence_rows(root, out_dir, split, n_silence, rng)
                )
        for split in SPLITS:
            write_manifest(out_dir / f"{split}.jsonl", rows[split])
        mark_prepared(marker, settings)
        return out_dir

    def _word_rows(self, root: Path) -> dict[str, list[dict]]:
        listed = {}
        for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
            for line in (root / name).read_text().split():
                listed[line.strip()] = split
        missing = [w for w in WORDS_35 if not (root / w).is_dir()]
        if missing:
            raise DatasetLayoutError(f"{root}: word folder(s) missing: {', '.join(missing)}")
        files = sorted(p for word in WORDS_35 for p in (root / word).glob("*.wav"))
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for path in tqdm(files, desc="reading Speech Commands", unit="file"):
            relative = path.relative_to(root).as_posix()
            try:
                info = sf.info(str(path))
            except (sf.LibsndfileError, RuntimeError) as e:
                raise DatasetLayoutError(f"{path}: cannot read wav header ({e})") from None
            rows[listed.get(relative, "train")].append(
                {
                    "audio_filepath": str(path.resolve()),
                    "duration": round(info.frames / info.samplerate, 6),
                    "label": path.parent.name,
                    "speaker": path.name.split("_nohash_")[0],
                    "id": relative,
                }
            )
        return rows

    def _silence_rows(
        self, root: Path, out_dir: Path, split: str, count: int, rng: random.Random
    ) -> list[dict]:
        noise_files = sorted((root / "_background_noise_").glob("*.wav"))
        if not noise_files:
            raise DatasetLayoutError(
                f"{root}: no _background_noise_/*.wav to cut {SILENCE} clips from"
            )
        noises = []
        for source in noise_files:
            audio, rate = sf.read(str(source), dtype="float32", always_2d=True)
            noises.append((source, audio.mean(axis=1), rate))
        folder = out_dir / SILENCE / split
        folder.mkdir(parents=True, exist_ok=True)
        bounds = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}[split]
        rows = []
        for i in range(count):
            source, audio, rate = noises[i % len(noises)]
            lo, hi = (round(b * len(audio)) for b in bounds)
            if hi - lo < rate:
                raise DatasetLayoutError(
                    f"{source}: too short to cut 1 s {SILENCE} clips from each split"
                )
            start = rng.randint(lo, hi - rate)
            clip = audio[start : start + rate] * rng.uniform(0.0, 1.0)
            path = folder / f"{source.stem}_{i:05d}.wav"
            sf.write(path, np.asarray(clip), rate, subtype="PCM_16")
            rows.append(
                {
                    "audio_filepath": str(path.resolve()),
                    "duration": 1.0,
                    "label": SILENCE,
                    "id": f"{SILENCE}/{split}/{path.name}",
                }
            )
        return rows
