"""The EfficientNet-Lite0 patch embedding (litetrack-e192): timm's network, frozen BatchNorm, freezing."""

from __future__ import annotations

import cv2
import timm
import torch

from litetrack_core.models import create_model
from litetrack_core.models.freezing import apply_litetrack_freezing
from litetrack_core.tracking.crop import to_model_input
from litetrack_core.weights.pretrained import create_pretrained_model
from litetrack_core.weights.pretrained_vision import efficientnet_lite0_state_dict


def test_stem_is_lite0_to_stride_16_on_a_real_frame(clip):
    model = create_pretrained_model("litetrack-e192")
    frame = cv2.imread(str(clip / "img" / "000001.jpg"))[:192, :192, ::-1].copy()  # the packaged clip, RGB
    reference = timm.create_model("tf_efficientnet_lite0")
    reference.load_state_dict(efficientnet_lite0_state_dict())
    reference.eval()
    seen = {}
    reference.blocks[4].register_forward_hook(lambda module, args, out: seen.setdefault("stride16", out))
    with torch.no_grad():
        reference(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 127.5 - 1.0)  # Lite0's own input
        ours = model.patch_embed.cnn(to_model_input(frame) * model.patch_embed._scale + model.patch_embed._shift)
        tokens = model.patch_embed(to_model_input(frame))
    torch.testing.assert_close(ours, seen["stride16"], atol=2e-4, rtol=1e-4)
    assert tokens.shape == (1, 12 * 12, model.cfg.embed_dim)


def test_training_keeps_the_cnn_statistics_and_trains_what_is_new():
    model = create_model("litetrack-e192")
    model.train()
    assert model.training and not model.patch_embed.cnn.training
    apply_litetrack_freezing(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("patch_embed.cnn.") for n in trainable)
    # Behind the CNN the projection and every ViT block start untrained, so they all learn.
    assert {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "pos_embed_x"} <= trainable
