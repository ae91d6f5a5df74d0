"""conf/lever_set/*.yaml: every lever of every set composes into a training config,
and every waveform effect it names is a class that takes the arguments it gives."""

import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from seqrec.config import conf_dir

LEVER_SETS = sorted(p.stem for p in (Path(conf_dir()) / "lever_set").glob("*.yaml"))


@pytest.mark.parametrize("name", LEVER_SETS)
def test_every_lever_composes_and_its_effects_take_their_arguments(name):
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        lever_set = compose("levers", overrides=[f"lever_set={name}"])
        assert lever_set.levers and "baseline" in lever_set.levers
        for lever, overrides in lever_set.levers.items():
            cfg = compose(
                "train",
                overrides=[f"experiment={lever_set.experiment}", *lever_set.common, *overrides],
            )
            effects = cfg.data.dataset.augment.get("effects") or []
            assert bool(effects) == any("effects=" in o for o in overrides), lever
            for effect in effects:
                arguments = {k for k in effect if k != "_target_"}
                parameters = inspect.signature(get_class(effect._target_)).parameters
                assert arguments <= set(parameters), (lever, effect._target_)
