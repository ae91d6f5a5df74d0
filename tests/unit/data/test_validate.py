"""seqrec.data.validate, through seqrec-validate: every problem of a manifest, with its line and
reason."""

import json
from pathlib import Path

import numpy as np

from seqrec.cli.validate import main as validate_main
from tests.conftest import broken_manifest, write_manifest_lines, write_wav


def test_validate_reports_every_problem_with_line_and_reason(tmp_path, capsys):
    manifest = broken_manifest(tmp_path)
    code = validate_main(
        [str(manifest), "--labels", "yes,no", "--sample-rates", "16000", "--channels", "1"]
    )
    out = capsys.readouterr()
    assert code == 1
    lines = out.out.strip().splitlines()
    expected = {
        2: "invalid_json",
        3: "missing_field",
        4: "missing_file",
        5: "empty_audio",
        6: "unreadable_audio",
        7: "duration_mismatch",
        9: "unknown_label",
    }
    for lineno, reason in expected.items():
        assert any(line.startswith(f"{manifest}:{lineno}: {reason}: ") for line in lines), (
            lineno,
            reason,
            lines,
        )
    stereo = [line for line in lines if line.startswith(f"{manifest}:8: ")]
    assert len(stereo) == 2 and all("unsupported_format" in line for line in stereo)
    assert not any(line.startswith((f"{manifest}:1:", f"{manifest}:10:")) for line in lines)
    assert "9 problem(s) in 10 lines" in out.err


def test_validate_text_charset_and_clean_manifest(tmp_path, capsys):
    write_wav(tmp_path / "a.wav")
    rows = [
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "hello world"},
        # training normalises this to "hello world" and accepts it
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "Héllo, Wörld!"},
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "room 101"},
        {"audio_filepath": "a.wav", "duration": 1.0, "text": "quiet"},
    ]
    manifest = write_manifest_lines(tmp_path / "asr.jsonl", rows)
    assert validate_main([str(manifest), "--charset", "abcdefghijklmnoprstuvwxyz' "]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in out] == [f"{manifest}:3", f"{manifest}:4"]
    assert "bad_text: character '1'" in out[0]
    assert out[1].endswith("text has characters outside the tokenizer after normalisation: 'q'")
    clean = write_manifest_lines(
        tmp_path / "ok.jsonl", [{"audio_filepath": "a.wav", "duration": 1.0, "label": "x"}]
    )
    assert validate_main([str(clean)]) == 0
    assert "no problems" in capsys.readouterr().err


def write_video(path: Path, frames: int = 10, fps: int = 10, size: int = 32) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps
        )
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = np.full((size, size, 3), i * 20 % 255, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_validate_video_manifests(tmp_path, capsys):
    write_video(tmp_path / "clip.mp4", frames=10, fps=10)
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    manifest = write_manifest_lines(
        tmp_path / "video.jsonl",
        [
            {"video_filepath": "clip.mp4", "duration": 1.0, "label": "left"},
            {"video_filepath": "broken.mp4", "duration": 1.0, "label": "left"},
            {"video_filepath": "clip.mp4", "duration": 3.0, "label": "left"},
        ],
    )
    assert validate_main([str(manifest), "--video", "--labels", "left,right"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{manifest}:2: unreadable_video: ")
    assert lines[1].startswith(f"{manifest}:3: duration_mismatch: ")


def test_validate_decodes_video_to_prove_its_duration(cut_short_and_whole, tmp_path, capsys):
    manifest = write_manifest_lines(
        tmp_path / "video.jsonl",
        [
            {"video_filepath": "whole.mp4", "duration": 2.0, "label": "a"},
            {"video_filepath": "cut.mp4", "duration": 2.0, "label": "a"},
        ],
    )
    assert validate_main([str(manifest), "--video"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{manifest}:2: truncated_video: ")
    assert "cut.mp4: the frames end at 0.600s but the header says 2.000s" in lines[0]
    assert validate_main([str(manifest), "--video", "--no-decode"]) == 0  # the header alone passes
    whole_only = write_manifest_lines(
        tmp_path / "whole.jsonl", [json.loads(manifest.read_text().splitlines()[0])]
    )
    assert validate_main([str(whole_only), "--video"]) == 0


def test_validate_reports_every_bad_line_of_every_manifest_in_one_pass(tmp_path, capsys):
    """Lines that once stopped seqrec-validate (bytes that are not UTF-8, a path that is a
    number) or slipped through it (NaN, Infinity) are each reported, and the lines
    after them are still checked, in every manifest given."""
    write_wav(tmp_path / "a.wav")
    good = json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "label": "yes"}).encode()
    first = tmp_path / "first.jsonl"
    first.write_bytes(
        b"\n".join([
            good,
            b'{"audio_filepath": "a.wav", "duration": 1.0, "label": "caf\xe9"}',
            b'{"audio_filepath": 5, "duration": 1.0, "label": "yes"}',
            b'{"audio_filepath": "a.wav", "duration": 0.5, "offset": NaN, "label": "yes"}',
            good,
        ]) + b"\n"
    )  # fmt: skip
    second = write_manifest_lines(
        tmp_path / "second.jsonl",
        [
            '{"audio_filepath": "a.wav", "duration": Infinity, "label": "yes"}',
            {"audio_filepath": "a.wav", "duration": 1.0, "label": 5},
            {"audio_filepath": "a.wav", "duration": 1.0, "label": "yes", "speaker": ["s1"]},
            {"audio_filepath": "a.wav", "duration": 2.0, "label": "yes"},
        ],
    )
    assert validate_main([str(first), str(second), "--labels", "yes,no"]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{first}:2: invalid_json: not UTF-8 text (byte 0xe9 at column 59)",
        f"{first}:3: bad_value: audio_filepath must be a path (a non-empty string), got 5",
        f"{first}:4: bad_value: offset is NaN; every number must be finite",
        f"{second}:1: bad_value: duration is Infinity; every number must be finite",
        f"{second}:2: bad_value: label must be a string, got 5",
        f"{second}:3: bad_value: speaker must be a string or null, got ['s1']",
        f"{second}:4: duration_mismatch: duration 2.000s disagrees with the file (1.000s)",
    ]
    assert "7 problem(s) in 9 lines" in out.err


def test_validate_video_refuses_a_non_finite_offset_or_duration(tmp_path, capsys):
    """A video clip at offset NaN, or of duration Infinity, was read as its last frame
    repeated, and seqrec-validate --video found nothing wrong."""
    write_video(tmp_path / "clip.mp4", frames=10, fps=10)
    manifest = write_manifest_lines(
        tmp_path / "video.jsonl",
        [
            {"video_filepath": "clip.mp4", "duration": 1.0, "label": "left"},
            '{"video_filepath": "clip.mp4", "duration": 0.5, "offset": NaN, "label": "left"}',
            '{"video_filepath": "clip.mp4", "duration": Infinity, "label": "left"}',
        ],
    )
    assert validate_main([str(manifest), "--video"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{manifest}:2: bad_value: offset is NaN; every number must be finite",
        f"{manifest}:3: bad_value: duration is Infinity; every number must be finite",
    ]


def test_validate_flags_a_rate_seqrec_cannot_resample(tmp_path, capsys):
    good = write_wav(tmp_path / "good.wav", seconds=0.5, rate=8000)
    odd = write_wav(tmp_path / "odd.wav", seconds=0.5, rate=44101)
    absurd = write_wav(tmp_path / "absurd.wav", seconds=0.5, rate=500)
    rows = [
        {"audio_filepath": str(p), "duration": 0.5, "label": "yes"} for p in (good, odd, absurd)
    ]
    manifest = write_manifest_lines(tmp_path / "m.jsonl", rows)
    assert validate_main([str(manifest)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [
        f"{manifest}:3: unsupported_format: sample rate 500 Hz is outside the 1000-384000 Hz "
        f"that seqrec resamples"
    ]
