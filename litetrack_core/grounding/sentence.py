"""A sentence read for grounding: which detector class it names, and its colour, position, size and
part words.

The class is found with the project's text encoder (all-MiniLM-L6-v2, from its package): every
content word of the sentence is embedded (mean-pooled, normalised) and compared with the class names
and their synonyms (``vocabulary.py``); the first word, in sentence order, whose best similarity
reaches ``min_similarity`` names the class (the subject of a referring sentence comes first: "the man
riding a bicycle" names a person), unless the next word names one too: then that word is the head of
a compound ("basketball player", "sports car"). Verbs in -ing are not candidates ("running" is close
to "runner"). No such word: no class, and grounding falls back to the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from litetrack_core.grounding.vocabulary import (
    CLASS_SYNONYMS,
    COCO_CLASSES,
    COLOUR_WORDS,
    PART_WORDS,
    POSITION_WORDS,
    SIZE_WORDS,
)

__all__ = ["ParsedSentence", "SentenceReader"]

_WORD = re.compile(r"[a-z][a-z-]*")
_STOP = frozenset(
    "a an the of in on at to by with and or from into onto over under near next beside behind between among "
    "along across through toward towards its his her their this that is are being who which while as for "
    "up down off out one two three other another than very".split()
)
_COLOUR_OF = {word: term for term, words in COLOUR_WORDS.items() for word in words}


@dataclass(frozen=True)
class ParsedSentence:
    """class_index: the named class, an index of the reader's classes (COCO by default; None: none
    named); similarity: the encoder's similarity of the word that named it. colours: basic colour
    terms (and "dark"/"light"). positions: position words. size: +1 large, -1 small, 0 unsaid. part:
    "face", "head" or "helmet" when the sentence names a part of a person."""

    class_index: int | None
    similarity: float
    word: str | None
    colours: tuple[str, ...]
    positions: tuple[str, ...]
    size: float
    part: str | None


class SentenceReader:
    """Reads sentences with the text encoder (loaded once; about 90 MB, 0.6 s).

    classes, synonyms: the class names a word may name (index = ``class_index``) and their other
    names; the detector's COCO classes by default (another label set: scripts/compare_detectors.py).
    """

    def __init__(self, min_similarity: float = 0.8, *, classes: Sequence[str] = COCO_CLASSES,
                 synonyms: Mapping[str, Sequence[str]] = CLASS_SYNONYMS) -> None:
        from transformers import AutoModel, AutoTokenizer

        from litetrack_core.models.text import minilm_dir

        folder = str(minilm_dir())
        self._tokenizer = AutoTokenizer.from_pretrained(folder)
        self._encoder = AutoModel.from_pretrained(folder).eval()
        self.min_similarity = min_similarity
        names = [(i, n) for i, name in enumerate(classes) for n in (name, *synonyms.get(name, ()))]
        self._name_class = torch.tensor([i for i, _ in names])
        self._name_vectors = self._embed([n for _, n in names])

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> torch.Tensor:
        batch = self._tokenizer(texts, padding=True, return_tensors="pt")
        hidden = self._encoder(**batch).last_hidden_state
        mask = batch["attention_mask"][..., None].float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def __call__(self, sentence: str) -> ParsedSentence:
        words = [w.removesuffix("'s").strip("-") for w in _WORD.findall(sentence.lower().replace("'s ", " "))]
        colours = tuple(dict.fromkeys(_COLOUR_OF[w] for w in words if w in _COLOUR_OF))
        # "a pink top" is clothing, not a place: a position word right after a colour word is not one.
        positions = tuple(dict.fromkeys(w for i, w in enumerate(words) if w in POSITION_WORDS
                                        and not (i and words[i - 1] in _COLOUR_OF)))
        sizes = [SIZE_WORDS[w] for w in words if w in SIZE_WORDS]
        content = [w for w in words if w and w not in _STOP and w not in _COLOUR_OF and w not in POSITION_WORDS
                   and w not in SIZE_WORDS and w not in PART_WORDS and not w.endswith("ing")]
        class_index, similarity, named = None, 0.0, None
        if content:
            sims = self._embed(content) @ self._name_vectors.T  # (words, names)
            best, where = (v.tolist() for v in sims.max(dim=1))
            hits = [k for k, value in enumerate(best) if value >= self.min_similarity]
            if hits:
                k = hits[0]
                if k + 1 in hits and _adjacent(words, content[k], content[k + 1]):
                    k += 1  # a compound: its last noun is its head
                class_index, similarity, named = int(self._name_class[where[k]]), float(best[k]), content[k]
        size = 0.0 if not sizes else (1.0 if sum(sizes) > 0 else -1.0)
        # A part is the target when its word heads the phrase, before the class it belongs to ("the
        # head of the deer", "the navy helmet of the lineman"); after it, it describes the whole
        # ("the rider in a black helmet").
        first_class_word = words.index(named) if named in words else len(words)
        part = next((w for w in words[:first_class_word] if w in PART_WORDS), None)
        return ParsedSentence(class_index, similarity, named, colours, positions, size, part)


def _adjacent(words: list[str], first: str, second: str) -> bool:
    return any(a == first and b == second for a, b in zip(words, words[1:]))


@lru_cache(maxsize=1)
def shared_reader() -> SentenceReader:
    """One reader per process (the encoder is loaded once)."""
    return SentenceReader()
