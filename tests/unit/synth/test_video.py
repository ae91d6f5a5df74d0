"""seqrec.synth.video: every synthetic class shows the same frames, in its own order."""

import numpy as np
import pytest

from seqrec.synth.video import ORDERS, frame_order, render_clip


def test_every_synthetic_class_shows_the_same_frames_in_its_own_order():
    """For one generator state, all 10 classes render the same set of frames: with the
    frames shuffled, nothing is left to tell the classes apart. Only the order differs."""
    clips = {a: render_clip(a, 12, 32, np.random.default_rng(1)) for a in ORDERS}
    assert all(c.shape == (12, 32, 32, 3) and c.dtype == np.uint8 for c in clips.values())
    frame_sets = {a: sorted(f.tobytes() for f in c) for a, c in clips.items()}
    assert all(s == frame_sets["right"] for s in frame_sets.values())
    assert len({c.tobytes() for c in clips.values()}) == len(ORDERS)  # ... in different orders
    assert len(set(frame_sets["right"])) == 12  # and the frames themselves all differ
    for action in ORDERS:
        assert sorted(frame_order(action, 12).tolist()) == list(range(12)), action
    # the left-hand classes mirror the right-hand ones along the path
    assert frame_order("left_twice", 6).tolist() == [5, 3, 1, 4, 2, 0]
    with pytest.raises(ValueError, match="multiple of 6"):
        frame_order("right", 8)
