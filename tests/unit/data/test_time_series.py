"""seqrec.data.time_series: a UCR/UEA problem written as series manifests (official
splits, unequal lengths, missing values), read through the manifest path."""

import json

import numpy as np
import pytest
import torch

from seqrec.data.sampler import DurationBucketSampler
from seqrec.data.time_series import (
    SeriesClassificationDataset,
    SeriesReader,
    UEAProblem,
    collate_series,
    stratified_split,
)

pytest.importorskip("aeon")

HEADER = """@problemName tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
"""
TRAIN = [
    "1.0,2.0,3.0,4.0:0.5,0.5,0.5,0.5:up",
    "4.0,3.0,2.0:1.0,?,3.0:down",
    "1.0,2.5,3.0,4.5,5.0:0.0,0.1,0.2,0.3,0.4:up",
    "5.0,4.0,3.0,2.0,1.0,0.0:1.0,1.0,1.0,1.0,1.0,1.0:down",
    "0.0,1.0,2.0:2.0,2.0,2.0:up",
    "3.0,2.0,1.0,0.0:?,?,1.0,1.0:down",
]
TEST = ["1.0,2.0,3.0,4.0,5.0,6.0,7.0:1,1,1,1,1,1,1:up", "3.0,2.0:0.0,0.0:down"]


def write_ts(path, lines, header=HEADER):
    path.write_text(header + "\n".join(lines) + "\n")
    return path


def test_a_ts_problem_becomes_manifests_with_its_lengths_and_missing_values(tmp_path):
    train = write_ts(tmp_path / "tiny_TRAIN.ts", TRAIN)
    test = write_ts(tmp_path / "tiny_TEST.ts", TEST)
    root = UEAProblem(str(train), str(tmp_path / "out"), val_fraction=0.34, seed=0,
                      test_file=str(test))()  # fmt: skip
    rows = {s: [json.loads(line) for line in (root / f"{s}.jsonl").open()] for s in
            ("train", "val", "test")}  # fmt: skip
    assert [len(rows[s]) for s in ("train", "val", "test")] == [4, 2, 2]
    assert sorted(r["label"] for r in rows["val"]) == ["down", "up"]  # one of each class
    assert sorted(r["duration"] for r in rows["train"] + rows["val"]) == [3, 3, 4, 4, 5, 6]
    assert sum(r["missing"] for r in rows["train"] + rows["val"]) == 3
    assert [r["duration"] for r in rows["test"]] == [7, 2]
    first = np.load(root / rows["test"][0]["series_filepath"])
    assert first.shape == (7, 2) and first[:, 0].tolist() == [1, 2, 3, 4, 5, 6, 7]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["splits"]["train"]["channels"] == 2
    # read back through the dataset, sampler and collate that training uses
    reader = SeriesReader(channels=2)
    dataset = SeriesClassificationDataset(root / "train.jsonl", ["up", "down"], reader)
    sampler = DurationBucketSampler(dataset.durations, None, 8, shuffle=False)
    batch = collate_series([dataset[i] for i in next(iter(sampler))])
    assert batch.values.shape[0] == 4 and batch.values.shape[2] == 2
    assert sorted(batch.lengths.tolist()) == sorted(r["duration"] for r in rows["train"])
    assert not torch.isnan(batch.values).any()  # missing values filled
    for row, n in zip(batch.values, batch.lengths, strict=True):
        assert row[n:].abs().sum() == 0  # zero padding after each end


def test_a_malformed_ts_file_is_a_clear_error_naming_it(tmp_path):
    bad = write_ts(tmp_path / "bad_TRAIN.ts", ["1.0,2.0:up", "1.0,x,3.0:down"],
                   HEADER.replace("@dimensions 2\n", "").replace("@univariate false", "@univariate true"))  # fmt: skip
    with pytest.raises(ValueError, match=r"bad_TRAIN\.ts: not a readable \.ts file"):
        UEAProblem(str(bad), str(tmp_path / "out"), test_file=str(bad))()
    with pytest.raises(FileNotFoundError, match=r"gone_TRAIN\.ts: \.ts file not found"):
        UEAProblem(str(tmp_path / "gone_TRAIN.ts"), str(tmp_path / "out"))()
    with pytest.raises(ValueError, match="unknown problem 'Nope'"):
        UEAProblem("Nope", str(tmp_path / "out"))()


def test_the_validation_split_is_drawn_per_class_and_by_the_seed():
    labels = ["a"] * 10 + ["b"] * 5 + ["c"]
    train, val = stratified_split(labels, 0.2, seed=1)
    assert sorted(train + val) == list(range(16)) and not set(train) & set(val)
    assert [labels[i] for i in val].count("a") == 2 and [labels[i] for i in val].count("b") == 1
    assert 15 in train  # a class of one stays in training
    assert stratified_split(labels, 0.2, seed=1) == (train, val)
    assert stratified_split(labels, 0.2, seed=2) != (train, val)


def test_the_reader_takes_files_and_arrays_and_names_what_is_wrong(tmp_path):
    reader = SeriesReader(channels=3, max_length=50)
    np.save(tmp_path / "s.npy", np.ones((9, 3)))
    assert reader.prepare(tmp_path / "s.npy")[0].shape == (9, 3)
    assert reader.prepare(torch.zeros(4, 3))[0].dtype == torch.float32
    with pytest.raises(ValueError, match=r"^series 2: a series for this model has 3 channel"):
        reader.prepare(np.zeros((9, 2)), 2)
    with pytest.raises(ValueError, match="max_length must be in"):
        SeriesReader(channels=1, max_length=10**9)
