"""seqrec.modules.frame_encoders: torchvision backbones from local weights, by ``_target_``."""

from pathlib import Path

import pytest
import torch

import seqrec
from seqrec.modules import FrameEncoder


@pytest.mark.parametrize(
    ("name", "dim"), [("resnet18", 512), ("mobilenet_v3_small", 576), ("efficientnet_b0", 1280)]
)
def test_torchvision_backbones_load_local_weights_and_freeze(tmp_path, name, dim):
    from seqrec.modules import torchvision_backbone

    torch.manual_seed(0)
    source = torchvision_backbone(name)
    full_state = dict(source.state_dict())
    # a checkpoint as torchvision publishes it: the whole classifier, head included
    import torchvision

    reference = getattr(torchvision.models, name)(weights=None)
    reference.load_state_dict({**reference.state_dict(), **full_state}, strict=True)
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    loaded = torchvision_backbone(name, weights_path=str(path), freeze=True)
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, full_state[key]), key
    assert not any(p.requires_grad for p in loaded.parameters())
    encoder = FrameEncoder(loaded, out_dim=dim).eval()
    features, _ = encoder(torch.randn(2, 3, 3, 32, 32), torch.tensor([3, 1]))
    assert features.shape == (2, 3, dim) and features[1, 1:].abs().sum() == 0
    with pytest.raises(FileNotFoundError, match="never downloads"):
        torchvision_backbone(name, weights_path=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="out_dim=7"):
        FrameEncoder(loaded, out_dim=7)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_a_backbone_config_names_torchvision_class_and_matches_the_old_named_form(name):
    """conf/frontend/<name>.yaml builds torchvision's class by ``_target_``; a checkpoint
    written before, naming the backbone by string, gets the same network."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from seqrec.modules import torchvision_backbone

    node = OmegaConf.load(Path(seqrec.__file__).parents[1] / "conf" / "frontend" / f"{name}.yaml")
    assert node.backbone.model._target_ == f"torchvision.models.{name}"
    built = instantiate(node)
    old = torchvision_backbone(name)
    assert built.out_dim == old.out_dim == node.out_dim
    new_state, old_state = built.backbone.state_dict(), old.state_dict()
    assert new_state.keys() == old_state.keys()
    built.backbone.load_state_dict(old_state)  # an old checkpoint's weights fit, and act alike
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(built.backbone.eval()(images), old.eval()(images))
