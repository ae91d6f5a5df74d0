"""UCF101 and HMDB51 from their own folder layouts to manifests.

UCF101: ``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` and ``ucfTrainTestlist/`` holding
``classInd.txt``, ``trainlist0N.txt`` and ``testlist0N.txt``. UCF101 has no
validation split; the last ``val_groups`` of the training groups (gGG, the people
and scenes) become validation, so no group is in both.

HMDB51: ``hmdb51_org/<class>/<clip>.avi`` and ``testTrainMulti_7030_splits/`` holding
``<class>_test_splitN.txt`` whose lines are ``<clip>.avi <id>`` (1 train, 2 test,
0 unused). HMDB51 has no validation split; ``val_share`` of each class's training
clips, chosen by a hash of the file name, become validation.

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
        for split in SPLITS:
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
        lists = _find(root, "", ("testTrainMulti_7030_splits", ""))
        videos = _find(root, "", ("hmdb51_org", ""))
        split_files = sorted(lists.glob(f"*_test_split{self.split}.txt"))
        if not split_files:
            raise DatasetLayoutError(f"{lists}: no *_test_split{self.split}.txt files")
        splits: dict[str, list[tuple[Path, str]]] = {split: [] for split in SPLITS}
        for split_file in split_files:
            label = split_file.name.removesuffix(f"_test_split{self.split}.txt")
            for line in split_file.read_text().split("\n"):
                if not line.strip():
                    continue
                name, flag = line.split()
                if flag == "0":
                    continue
                path = videos / label / name
                if flag == "2":
                    splits["test"].append((path, label))
                else:
                    digest = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
                    splits["val" if digest < self.val_share else "train"].append((path, label))
        return splits
