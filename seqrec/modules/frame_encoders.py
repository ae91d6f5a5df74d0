"""Video frontends: a 2-D CNN applied to every real frame, (B, T, C, H, W) -> (B, T, D)."""

from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from seqrec.modules.masking import lengths_to_mask


class SmallCNN(nn.Module):
    """Conv-BN-ReLU blocks, each halving the resolution, then average pooling to a
    ``spatial_pool`` x ``spatial_pool`` grid and a linear projection. A grid larger
    than 1 keeps where things are in the frame, which global pooling discards.

    >>> tuple(SmallCNN(channels=(8, 16), out_dim=32, spatial_pool=2)(torch.randn(5, 3, 32, 32)).shape)
    (5, 32)
    """

    def __init__(
        self, channels: tuple[int, ...] = (32, 64, 128), out_dim: int = 128, spatial_pool: int = 1
    ) -> None:
        super().__init__()
        layers, previous = [], 3
        for width in channels:
            layers += [
                nn.Conv2d(previous, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            previous = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(spatial_pool), nn.Flatten())
        self.proj = nn.Linear(previous * spatial_pool**2, out_dim)
        self.out_dim = out_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(images))  # (N, out_dim)


def headless(
    model: nn.Module, head: str, weights_path: str | None = None, freeze: bool = False
) -> nn.Module:
    """A torchvision classifier (built by its own config, e.g. ``_target_:
    torchvision.models.resnet18``) with its classification layer ``head`` (``fc``,
    ``classifier``) replaced by the identity. ``out_dim`` is the width the removed
    layer took in.

    Pretrained weights are read from ``weights_path`` (a state dict saved with
    ``torch.save(model.state_dict(), path)``, e.g. from torchvision's published
    checkpoints, head included), never downloaded. ``freeze`` stops their gradients.

    >>> headless(torchvision.models.resnet18(weights=None), "fc").out_dim
    512
    """
    layer = getattr(model, head, None)
    linear = next((m for m in layer.modules() if isinstance(m, nn.Linear)), None) if layer else None
    if linear is None:
        raise ValueError(f"{type(model).__name__} has no linear classification layer {head!r}")
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: backbone weights not found (seqrec never downloads weights)"
            )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    setattr(model, head, nn.Identity())
    model.out_dim = linear.in_features
    if freeze:
        model.requires_grad_(False)
    return model


# The backbones that checkpoints written before ``headless`` name by string.
_NAMED_HEADS = {
    "resnet18": "fc",
    "mobilenet_v3_small": "classifier",
    "efficientnet_b0": "classifier",
}


def torchvision_backbone(
    name: Literal["resnet18", "mobilenet_v3_small", "efficientnet_b0"],
    weights_path: str | None = None,
    freeze: bool = False,
) -> nn.Module:
    """:func:`headless` for a backbone named by string, the form of checkpoints
    written before the configs named torchvision's classes; kept so they load."""
    if name not in _NAMED_HEADS:
        raise ValueError(f"backbone must be one of {sorted(_NAMED_HEADS)}, got {name!r}")
    model = getattr(torchvision.models, name)(weights=None)
    return headless(model, _NAMED_HEADS[name], weights_path, freeze)


class FrameEncoder(nn.Module):
    """Run ``backbone`` on every real frame of a padded batch of clips.

    Only real frames are encoded (padding is neither computed nor seen by batch
    norm); padded positions of the output are zero.

    >>> encoder = FrameEncoder(SmallCNN(channels=(8,), out_dim=16))
    >>> y, lengths = encoder(torch.randn(2, 4, 3, 16, 16), torch.tensor([4, 2]))
    >>> tuple(y.shape), float(y[1, 2:].detach().abs().sum())
    ((2, 4, 16), 0.0)
    """

    def __init__(self, backbone: nn.Module, out_dim: int | None = None) -> None:
        super().__init__()
        if out_dim is not None and out_dim != backbone.out_dim:
            raise ValueError(
                f"FrameEncoder: out_dim={out_dim} in the config, but the backbone gives {backbone.out_dim}"
            )
        self.backbone = backbone
        self.out_dim = backbone.out_dim

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C, H, W) -> (B, T, D)."""
        batch, time = frames.shape[:2]
        mask = lengths_to_mask(lengths, time)  # (B, T)
        features = self.backbone(frames[mask])  # (N real frames, D)
        out = features.new_zeros(batch, time, features.shape[-1])
        out[mask] = features
        return out, lengths


class FramePooling(nn.Module):
    """The recurrent decoder's stand-in for a single-frame baseline: frames pass through
    unchanged, so the head pools features that never saw their neighbours."""

    def __init__(self, input_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        if out_dim is not None and out_dim != input_dim:
            raise ValueError(
                f"FramePooling passes frames through: out_dim must equal input_dim ({input_dim})"
            )
        self.out_dim = input_dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, lengths
