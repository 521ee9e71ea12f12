"""An independent reference for the ViT blocks in tests: one block over a full sequence with a
per-row attention mask (B, N, N), from the block's own parameters. Target caching and pruning are
checked against full-sequence passes built from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_block(block, x, mask, csa_groups):
    """One block on ``x`` (B, N, C) where row i attends to column j iff ``mask[:, i, j]``.

    ``csa_groups``: [(rows, pooled)] (B, N) bool pairs: the CSA gate of ``rows`` is computed
    from the attention output averaged over ``pooled``.
    """
    h = block.norm1(x)
    b, n, c = h.shape
    heads = block.attn.num_heads
    q, k, v = block.attn.qkv(h).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None])
    out = out.transpose(1, 2).reshape(b, n, c)
    csa = block.attn.csa
    if csa is not None:
        gated = out
        for rows, pooled in csa_groups:
            w = pooled.to(out.dtype).unsqueeze(-1)
            mean = (out * w).sum(1) / w.sum(1)
            gate = torch.sigmoid(csa.fc2(torch.relu(csa.fc1(mean))))
            gated = torch.where(rows.unsqueeze(-1), out * gate.unsqueeze(1), gated)
        out = gated
    x = x + block.ls1(block.attn.proj(out))
    return x + block.ls2(block.mlp(block.norm2(x)))


def sequence_layout(model, text_feats, flag):
    """(B, Nz, Nx, L, 1 + Nz, target keys shown (B, 1 + Nz), text keys shown (B, L)) of the full
    sequence [cls, template, search, text]: NL hides cls and template, BBOX the text, padding hidden."""
    cfg = model.cfg
    b = flag.shape[0]
    nz, nx, length = cfg.template_grid**2, cfg.search_grid**2, text_feats.tokens.shape[1]
    target_keys = (flag != 1).view(-1, 1).expand(b, 1 + nz)
    text_keys = text_feats.mask.bool() & (flag != 0).view(-1, 1)
    return b, nz, nx, length, 1 + nz, target_keys, text_keys
