"""seqrec.synth.gnuspeech: GnuSpeech through node, its install checks and its errors.
Most tests run a stand-in package (tests.helpers.fake_gnuspeech) and need only node;
one speaks with the real package and skips without it."""

import json
from pathlib import Path

import numpy as np
import pytest

from seqrec.synth import gnuspeech
from seqrec.synth.gnuspeech import GnuSpeech, Style
from tests.helpers import fake_gnuspeech, needs_node


def _pitch(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.argmax(spectrum) * rate / audio.size)


def test_one_process_speaks_each_request_in_its_voice_and_tempo(tmp_path):
    with GnuSpeech(fake_gnuspeech(tmp_path)) as tts:
        male, rate = tts.speak("yes", Style("male", 1.0))
        baby_fast, _ = tts.speak("yes", Style("baby", 2.0))
    assert rate == 22050 and male.dtype == np.float32
    assert male.size == round(0.4 * rate) and baby_fast.size == round(0.2 * rate)
    assert abs(_pitch(male, rate) - 120) < 5 and abs(_pitch(baby_fast, rate) - 400) < 10


def test_a_synthesizer_error_names_the_text_and_carries_nodes_message(tmp_path):
    expected = pytest.raises(RuntimeError, match=r"'fail'.*the stand-in cannot say fail")
    with GnuSpeech(fake_gnuspeech(tmp_path)) as tts, expected:
        tts.speak("fail", Style("male", 1.0))


def test_a_missing_or_other_package_is_refused_with_the_install_command(tmp_path):
    needs_node()
    with pytest.raises(FileNotFoundError, match=r"npm install --no-save @echogarden/gnuspeech"):
        GnuSpeech(tmp_path / "nowhere")
    other = fake_gnuspeech(tmp_path, version="0.2.0")
    with pytest.raises(ValueError, match=r"expected @echogarden/gnuspeech-wasm 0\.3\.0, found"):
        GnuSpeech(other)
    (other / "package.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"package\.json: not a readable package\.json"):
        GnuSpeech(other)


def test_speaking_outside_the_context_manager_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="needs the context manager"):
        GnuSpeech(fake_gnuspeech(tmp_path)).speak("yes", Style("male", 1.0))


@pytest.mark.parametrize(
    "voice, tempo, message",
    [("robot", 1.0, "GnuSpeech has no voice 'robot'"), ("male", 0.0, "tempo must be in")],
)
def test_bad_styles_are_refused(voice, tempo, message):
    with pytest.raises(ValueError, match=message):
        Style(voice, tempo)


def test_the_real_package_speaks_a_word_in_each_voice():
    package = Path(gnuspeech.DEFAULT_DIR)
    needs_node()
    if not (package / "package.json").is_file():
        pytest.skip(f"GnuSpeech is not installed here: {gnuspeech.INSTALL_HINT}")
    assert json.loads((package / "package.json").read_text())["version"] == gnuspeech.VERSION
    with GnuSpeech(package) as tts:
        spoken = [tts.speak("seven", Style(voice, 1.0)) for voice in gnuspeech.VOICES]
    for audio, rate in spoken:
        assert rate == 44100 and 0.2 < audio.size / rate < 2.0 and np.abs(audio).max() > 0.1
    assert len({np.round(audio[:8000], 3).tobytes() for audio, _ in spoken}) == 5
