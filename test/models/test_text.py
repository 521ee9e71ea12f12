"""Tokenizer rules and the text encoder's pretrained MiniLM initialisation."""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import BertModel

from conftest import tiny_config
from litetrack_core.models import create_model
from litetrack_core.models.text import Tokenizer, minilm_dir
from litetrack_core.weights.pretrained import load_bert_text


def test_tokenizer_layout():
    t = Tokenizer(max_tokens=40)("The Red CAR on the left")
    ids = t.ids[0].tolist()
    n = int(t.mask.sum())
    assert ids[0] == 101 and ids[n - 1] == 102 and ids[n:] == [0] * (40 - n)
    assert t.mask[0, :n].eq(1).all() and t.mask[0, n:].eq(0).all()
    assert ids == Tokenizer(max_tokens=40)("the red car on the left").ids[0].tolist()  # lower-cased


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_empty_text_is_an_error(bad):
    with pytest.raises(ValueError, match="non-empty sentence"):
        Tokenizer()(bad)


def test_long_text_is_truncated_with_a_warning(caplog):
    sentence = " ".join(["red"] * 100)
    with caplog.at_level(logging.WARNING):
        t = Tokenizer(max_tokens=40)(sentence)
    assert "keeping the first 38" in caplog.text
    assert t.mask.sum() == 40 and t.ids[0, -1] == 102 and t.ids[0, 1:39].eq(2417).all()


def test_minilm_initialisation_reproduces_huggingface():
    """Our text stage with MiniLM weights equals transformers' BertModel on the same sentence."""
    model = create_model(tiny_config(embed_dim=384, num_heads=6, text_heads=12, text_intermediate=1536, fusion_start=3, depth=4))
    loaded = load_bert_text(model, minilm_dir())
    assert "text.bert.encoder.layer.2.output.dense.weight" in loaded
    assert not any(k.startswith("text.bert.encoder.layer.3.") for k in loaded)
    tokens = Tokenizer()("a person in a red jacket")
    reference = BertModel.from_pretrained(minilm_dir(), local_files_only=True).eval()
    with torch.no_grad():
        ours = model.encode_text(tokens).tokens
        theirs = reference(input_ids=tokens.ids, attention_mask=tokens.mask, output_hidden_states=True).hidden_states[3]
    real = tokens.mask[0].bool()
    torch.testing.assert_close(ours[0, real], theirs[0, real], atol=1e-5, rtol=1e-5)
