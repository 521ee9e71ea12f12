"""A convolutional patch embedding: EfficientNet-Lite0 to stride 16, then a 1x1 projection.

The alternative to the ViT's linear patch embedding for the EfficientNet-Lite0 candidate of the
default model (``ModelConfig.patch_embed = "efficientnet-lite0"``): its first five stages (timm's
``tf_efficientnet_lite0`` ``conv_stem``, ``bn1``, ``blocks[0:5]``; 112 channels at stride 16) give
one token per 16x16 pixels, as ``timm.layers.PatchEmbed`` does, row-major, (B, N, C).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from litetrack_core.models.configs import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["ConvPatchEmbed"]

STRIDE = 16
CHANNELS = 112  # output of Lite0's stage 4 (blocks.4)
STAGES = 5


class ConvPatchEmbed(nn.Module):
    """EfficientNet-Lite0 stages 0-4 + 1x1 conv to ``dim``: (B, 3, H, W) -> (B, H/16 * W/16, dim).

    Input is the tracker's ImageNet-normalised RGB; Lite0 was trained on (x - 0.5) / 0.5 of RGB in
    [0, 1], so the input is re-normalised first (a fixed affine map). The CNN's BatchNorms keep
    their ImageNet statistics in training too (a batch of 16 crops is too small to re-estimate them).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        self.cnn = nn.Sequential(net.conv_stem, net.bn1, *net.blocks[:STAGES])
        self.proj = nn.Conv2d(CHANNELS, dim, kernel_size=1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        # lite0 = (x * std + mean - 0.5) / 0.5
        self.register_buffer("_scale", std / 0.5, persistent=False)
        self.register_buffer("_shift", (mean - 0.5) / 0.5, persistent=False)

    def train(self, mode: bool = True) -> "ConvPatchEmbed":
        super().train(mode)
        self.cnn.eval()
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.cnn(image * self._scale + self._shift)
        return self.proj(x).flatten(2).transpose(1, 2)

    @staticmethod
    def state_from_timm(lite0: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """timm ``tf_efficientnet_lite0`` names -> this module's (``cnn.*``), stages 0-4 only."""
        top = {"conv_stem": 0, "bn1": 1}
        out = {}
        for name, value in lite0.items():
            head, _, rest = name.partition(".")
            if head in top:
                out[f"cnn.{top[head]}.{rest}"] = value
            elif head == "blocks":
                stage, _, rest = rest.partition(".")
                if int(stage) < STAGES:
                    out[f"cnn.{int(stage) + 2}.{rest}"] = value
        return out
