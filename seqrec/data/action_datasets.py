"""UCF101 and HMDB51 from their own folder layouts to manifests.

UCF101: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` holding
``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt``. UCF101 has no
validation split; the last ``val_groups`` of the training groups (gGG, the people
and scenes) become validation, so no group is in both.

HMDB51: ``hmdb51_org/<class>/<clip>.avi`` and ``testTrainMulti_7030_splits/`` holding
``<class>_test_splitN.txt`` whose lines are ``<clip>.avi <id>`` (1 train, 2 test,
0 unused). A clip is named ``<source video>_<class>_<body>_<camera>_<people>_
<viewpoint>_<quality>_<n>.avi``, and clips cut from one source video share the name
up to ``_<n>``. HMDB51 has no validation split; the training clips of ``val_share``
of each class's source videos (at least one), chosen by a hash of the source
video's name, become validation, so no source video is in both.

The standard protocol trains on the whole official training list: with
``val_groups=0`` (UCF101) or ``val_share=0`` (HMDB51) no ``val.jsonl`` is written,
and the run is made with ``data.val_manifest=null`` (no validation; the last
checkpoint is tested).

Durations come from the video containers; a video that cannot be opened stops the
preparation with its path.
"""

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import DatasetLayoutError, is_prepared, mark_prepared
from seqrec.data.video import VideoError, probe_video

SPLITS = ("train", "val", "test")


def _find(root: Path, name: str, candidates: tuple[str, ...]) -> Path:
    for candidate in candidates:
        if (root / candidate / name).exists():
            return root / candidate
    raise DatasetLayoutError(
        f"{root}: no {name} in {' or '.join(repr(c or '.') for c in candidates)}"
    )


def _rows(items: list[tuple[Path, str]], desc: str) -> list[dict]:
    rows = []
    for path, label in tqdm(items, desc=desc, unit="video"):
        try:
            info = probe_video(path)
        except VideoError as e:
            raise DatasetLayoutError(str(e)) from None
        rows.append(
            {
                "video_filepath": str(path.resolve()),
                "duration": round(info.duration, 4),
                "label": label,
                "id": path.stem,
            }
        )
    return rows


@dataclass
class _SplitPreparer:
    """Shared steps: skip when already prepared with the same settings, check the
    split number, write the three manifests. Subclasses list the videos of each split."""

    root: str
    out_dir: str
    split: int = 1
    name = ""

    def splits(self, root: Path) -> dict[str, list[tuple[Path, str]]]:
        raise NotImplementedError

    def __call__(self) -> Path:
        root, out_dir = Path(self.root), Path(self.out_dir)
        settings = {**asdict(self), "root": str(root.resolve()), "out_dir": None}
        marker = out_dir / "prepared.json"
        if is_prepared(marker, settings):
            return out_dir
        if self.split not in (1, 2, 3):
            raise ValueError(f"{self.name} split must be 1, 2 or 3, got {self.split}")
        splits = self.splits(root)
        out_dir.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        (out_dir / "val.jsonl").unlink(missing_ok=True)  # a run with no validation has none
        for split in SPLITS:
            if split == "val" and not splits[split]:
                continue
            rows = _rows(splits[split], f"reading {self.name} {split}")
            write_manifest(out_dir / f"{split}.jsonl", rows)
        mark_prepared(marker, settings)
        return out_dir


@dataclass
class UCF101Preparer(_SplitPreparer):
    """Write ``train.jsonl``, ``val.jsonl`` and ``test.jsonl`` for one official split."""

    val_groups: int = 2
    name = "UCF101"

    def classes(self, lists: Path) -> list[str]:
        classes = []
        for line in (lists / "classInd.txt").read_text().split("\n"):
            if line.strip():
                index, name = line.split()
                if int(index) != len(classes) + 1:
                    raise DatasetLayoutError(
                        f"{lists / 'classInd.txt'}: expected class {len(classes) + 1}, got {line!r}"
                    )
                classes.append(name)
        return classes

    def splits(self, root: Path) -> dict[str, list[tuple[Path, str]]]:
        lists = _find(root, "classInd.txt", ("ucfTrainTestlist", ""))
        videos = _find(root, "", ("UCF-101", ""))
        classes = set(self.classes(lists))
        entries = {}
        for split, name in (
            ("train", f"trainlist0{self.split}.txt"),
            ("test", f"testlist0{self.split}.txt"),
        ):
            if not (lists / name).is_file():
                raise DatasetLayoutError(f"{lists}: no {name}")
            entries[split] = []
            for line in (lists / name).read_text().split("\n"):
                if not line.strip():
                    continue
                relative = line.split()[0]
                label = relative.split("/")[0]
                if label not in classes:
                    raise DatasetLayoutError(
                        f"{lists / name}: class {label!r} is not in classInd.txt"
                    )
                entries[split].append((videos / relative, label))
        groups = sorted({_ucf_group(path) for path, _ in entries["train"]})
        if not 0 <= self.val_groups < len(groups):
            raise ValueError(
                f"UCF101 val_groups must be from 0 (no validation) to {len(groups) - 1} "
                f"(split {self.split} trains on {len(groups)} groups), got {self.val_groups}"
            )
        held_out = set(groups[len(groups) - self.val_groups :]) if self.val_groups else set()
        return {
            "train": [e for e in entries["train"] if _ucf_group(e[0]) not in held_out],
            "val": [e for e in entries["train"] if _ucf_group(e[0]) in held_out],
            "test": entries["test"],
        }


def _ucf_group(path: Path) -> str:
    match = re.search(r"_g(\d+)_c\d+", path.name)
    if match is None:
        raise DatasetLayoutError(f"{path}: not a UCF101 file name (v_<Class>_gGG_cCC.avi)")
    return match.group(1)


@dataclass
class HMDB51Preparer(_SplitPreparer):
    """Write ``train.jsonl``, ``val.jsonl`` and ``test.jsonl`` for one official split."""

    val_share: float = 0.1
    name = "HMDB51"

    def splits(self, root: Path) -> dict[str, list[tuple[Path, str]]]:
        if not 0 <= self.val_share < 1:
            raise ValueError(
                f"HMDB51 val_share must be at least 0 (no validation) and below 1, "
                f"got {self.val_share}"
            )
        lists = _find(root, "", ("testTrainMulti_7030_splits", ""))
        videos = _find(root, "", ("hmdb51_org", ""))
        split_files = sorted(lists.glob(f"*_test_split{self.split}.txt"))
        if not split_files:
            raise DatasetLayoutError(f"{lists}: no *_test_split{self.split}.txt files")
        test: list[tuple[Path, str]] = []
        training: list[tuple[Path, str, str]] = []  # (path, label, source video)
        for split_file in split_files:
            label = split_file.name.removesuffix(f"_test_split{self.split}.txt")
            for lineno, line in enumerate(split_file.read_text().split("\n"), 1):
                if not line.strip():
                    continue
                where = f"{split_file}:{lineno}"
                fields = line.split()
                if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                    raise DatasetLayoutError(
                        f"{where}: expected '<clip>.avi <0|1|2>', got {line!r}"
                    )
                name, flag = fields
                if flag == "1":
                    source = hmdb_source_video(name, label, where)
                    training.append((videos / label / name, label, source))
                elif flag == "2":
                    test.append((videos / label / name, label))
        held_out = self._held_out(training)
        return {
            "train": [(path, label) for path, label, source in training if source not in held_out],
            "val": [(path, label) for path, label, source in training if source in held_out],
            "test": test,
        }

    def _held_out(self, training: list[tuple[Path, str, str]]) -> set[str]:
        """The source videos that validate: in each class, ``val_share`` of its source
        videos (at least one, and never all), those first by a hash of their name. A
        source video held out in one class is held out in every class."""
        if not self.val_share:
            return set()
        by_class: dict[str, set[str]] = {}
        for _, label, source in training:
            by_class.setdefault(label, set()).add(source)
        held_out = set()
        for sources in by_class.values():
            ranked = sorted(sources, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
            count = min(len(ranked) - 1, max(1, round(self.val_share * len(ranked))))
            held_out.update(ranked[:count])
        return held_out


# <source video>_<class>, then the tags (visible body, camera motion, people,
# viewpoint, quality), then the clip's number within the source video
_HMDB_CLIP = re.compile(
    r"(?P<source>.+?)(?:_[fhlu]_(?:cm|nm)_np\d+_(?:fr|ba|le|ri)_(?:bad|med|goo))?_\d+\.avi"
)


def hmdb_source_video(name: str, label: str, source: str = "") -> str:
    """The source video an HMDB51 clip was cut from: its file name without the clip
    number, the tags and the class, so clips of one source video share it whatever
    their class. ``source`` (the split file's line) names the problem in errors.

    >>> hmdb_source_video("April_09_brush_hair_u_nm_np1_ba_goo_1.avi", "brush_hair")
    'April_09'
    """
    match = _HMDB_CLIP.fullmatch(name)
    if match is None:
        raise DatasetLayoutError(
            f"{source or name}: {name!r} is not an HMDB51 clip name (<source video>_<class>"
            "_<body>_<camera>_<people>_<viewpoint>_<quality>_<n>.avi)"
        )
    return match["source"].removesuffix(f"_{label}")
