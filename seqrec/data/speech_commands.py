"""Google Speech Commands v2 from its own folder layout to manifests.

The layout: one folder per word holding 1 s wav files named ``<speaker>_nohash_<n>.wav``,
``validation_list.txt`` and ``testing_list.txt`` (paths relative to the root) and
``_background_noise_/`` with long noise recordings. Files in neither list train.

Tasks:
- ``35``: the 35 words.
- ``12``: ``yes no up down left right on off stop go``, ``_unknown_`` (the other words,
  subsampled to ``unknown_share`` of each split as in the TensorFlow reference
  pipeline) and ``_silence_`` (1 s segments cut from the background noise, written by
  this preparer).

The test set of the 12-class task is one of two:
- the released ``speech_commands_test_set_v0.02`` archive (``test_root``): 4,890
  clips in the 12 class folders, with fixed ``_silence_`` and ``_unknown_`` clips.
  The published 12-class figures are reported on it. The clips of
  ``testing_list.txt`` are then left out of every split.
- without it, a test set derived like the others: the clips of
  ``testing_list.txt``, ``_unknown_`` subsampled and ``_silence_`` cut here.

Noise segments: each noise file is cut in three parts, :data:`NOISE_SHARES` (the
first 80 % train, then 10 % validation, 10 % test). The ``_silence_`` clips of each
split are cut from its own part, and training's noise augmentation reads only the
training part (``noise_span`` in ``conf/data/speech_commands.yaml``), so the
validation and derived test silence is noise no training clip heard. The
TensorFlow reference pipeline does not keep them apart: it cuts the silence of
every split, and the training noise, from anywhere in the whole noise files. The
released test set's ``_silence_`` clips come with it; where in which noise
recordings they were cut is not documented, so training noise may overlap them.
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
# the part of every _background_noise_ file (as shares of its length) that each split's
# _silence_ clips are cut from; training's noise augmentation reads only the first
NOISE_SHARES = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}


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
        test_root: for task 12, the extracted ``speech_commands_test_set_v0.02``
            archive, the test set (None: the test set derived from
            ``testing_list.txt``).
    """

    root: str
    out_dir: str
    task: int = 12
    unknown_share: float = 0.1
    silence_share: float = 0.1
    seed: int = 0
    test_root: str | None = None

    def __call__(self) -> Path:
        root, out_dir = Path(self.root), Path(self.out_dir)
        if self.task not in (12, 35):
            raise ValueError(f"Speech Commands task must be 12 or 35, got {self.task}")
        if self.test_root is not None and self.task != 12:
            raise ValueError(
                f"test_root is the released test set of the 12-class task; task {self.task} "
                "takes its test set from testing_list.txt (set data.prepare.test_root=null)"
            )
        test_root = Path(self.test_root) if self.test_root is not None else None
        settings = {
            **asdict(self),
            "root": str(root.resolve()),
            "out_dir": None,
            "test_root": str(test_root.resolve()) if test_root else None,
        }
        marker = out_dir / "prepared.json"
        if is_prepared(marker, settings):
            return out_dir
        for required in ("validation_list.txt", "testing_list.txt"):
            if not (root / required).is_file():
                hint = "is this the Speech Commands v2 folder?"
                if (root / SILENCE).is_dir():
                    hint = (
                        "this looks like speech_commands_test_set_v0.02: pass it as "
                        "data.prepare.test_root, and the speech_commands_v0.02 folder as "
                        "data.prepare.root"
                    )
                raise DatasetLayoutError(f"{root}: no {required}; {hint}")
        released_test = official_test_rows(test_root) if test_root else None
        out_dir.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)

        rows = self._word_rows(root)
        if self.task == 12:
            rng = random.Random(self.seed)
            for split in SPLITS:
                if split == "test" and released_test is not None:
                    rows["test"] = released_test  # testing_list.txt's clips are left out
                    continue
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
        bounds = NOISE_SHARES[split]
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


def official_test_rows(folder: Path) -> list[dict]:
    """Manifest rows of the released ``speech_commands_test_set_v0.02`` archive: the
    wav files of its 12 class folders, labelled by folder."""
    labels = task_labels(12)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: test set folder not found")
    present = {p.name for p in folder.iterdir() if p.is_dir()}
    missing, unexpected = sorted(set(labels) - present), sorted(present - set(labels))
    if missing or unexpected:
        problems = [f"missing class folder(s) {', '.join(missing)}"] if missing else []
        problems += [f"unexpected folder(s) {', '.join(unexpected)}"] if unexpected else []
        raise DatasetLayoutError(
            f"{folder}: {'; '.join(problems)}; the released test set "
            f"(speech_commands_test_set_v0.02) holds exactly {', '.join(labels)}"
        )
    rows = []
    for label in labels:
        files = sorted((folder / label).glob("*.wav"))
        if not files:
            raise DatasetLayoutError(f"{folder / label}: no .wav files")
        for path in files:
            try:
                info = sf.info(str(path))
            except (sf.LibsndfileError, RuntimeError) as e:
                raise DatasetLayoutError(f"{path}: cannot read wav header ({e})") from None
            row = {
                "audio_filepath": str(path.resolve()),
                "duration": round(info.frames / info.samplerate, 6),
                "label": label,
                "id": f"{folder.name}/{label}/{path.name}",
            }
            if "_nohash_" in path.name:
                row["speaker"] = path.name.split("_nohash_")[0]
            rows.append(row)
    return rows
