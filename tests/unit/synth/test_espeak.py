"""seqrec.synth.espeak: eSpeak NG speaks and refuses unknown voices."""

import numpy as np
import pytest

from seqrec.synth.espeak import ESpeak, ESpeakError


def test_espeak_speaks_and_rejects_unknown_voices():
    tts = ESpeak()
    audio = tts.synthesize("seven", voice="en-us+m3", rate=150)
    assert tts.sample_rate == 22050
    assert 0.2 < audio.size / tts.sample_rate < 1.5 and np.abs(audio).max() > 0.05
    slow = tts.synthesize("seven", voice="en-us+m3", rate=90)
    assert slow.size > audio.size
    with pytest.raises(ESpeakError, match="unknown eSpeak voice"):
        tts.synthesize("seven", voice="xx-nowhere+m3")
