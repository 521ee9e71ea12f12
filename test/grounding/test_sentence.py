"""Sentence -> class with the text encoder, and the other words ranking reads."""

from __future__ import annotations

import numpy as np
import pytest

from litetrack_core.grounding.colour import colour_share
from litetrack_core.grounding.sentence import SentenceReader, shared_reader
from litetrack_core.grounding.vocabulary import COCO_CLASSES


@pytest.fixture(scope="module")
def reader():
    return shared_reader()


@pytest.mark.parametrize("sentence, expected", [
    ("the person in dark clothes walking across the crosswalk", "person"),
    ("the grey car driving around the roundabout", "car"),
    ("a black swan swimming in the pond", "bird"),          # a synonym
    ("the automobile parked by the kerb", "car"),             # in no list: the encoder's similarity
    ("the basketball player in green", "person"),             # a compound: its head noun
    ("a red sports car", "car"),
    ("the man riding a bicycle", "person"),                   # the subject comes first
    ("the head of the deer running through the water", None),  # no COCO class ("running" is no runner)
])
def test_the_named_class(reader, sentence, expected):
    parsed = reader(sentence)
    assert (None if parsed.class_index is None else COCO_CLASSES[parsed.class_index]) == expected


def test_another_label_set():
    # As scripts/compare_detectors.py reads sentences for the Open Images SSD: its labels, its synonyms.
    labels = ("person", "car", "vehicle", "cattle")
    other = SentenceReader(classes=labels, synonyms={"vehicle": ("truck", "bus"), "cattle": ("cow",), "person": ("player",)})
    named = [other(s).class_index for s in ("the small pale truck on the road", "a brown and white cow",
                                            "the basketball player in green", "the gull flying highest")]
    assert [None if i is None else labels[i] for i in named] == ["vehicle", "cattle", "person", None]  # no bird here


def test_colour_position_size_and_part_words(reader):
    parsed = reader("the small woman in a pink top on the left, her face turned")
    assert parsed.colours == ("pink",)
    assert parsed.positions == ("left",)  # "a pink top" is clothing, not the top of the frame
    assert parsed.size == -1.0 and parsed.part is None  # "her face turned" describes the woman, the target
    assert reader("the face of the girl with dark hair").part == "face"
    assert reader("the navy helmet of the crouched lineman in the middle").part == "helmet"
    assert reader("the rider in a white shirt and black helmet on a chestnut horse").part is None


def test_colour_share_reads_the_middle_of_the_box():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[:, :50] = (200, 30, 30)  # red left half
    frame[:, 50:] = (30, 60, 200)  # blue right half
    assert colour_share(frame, (0, 0, 50, 100), ("red",)) == pytest.approx(1.0)
    assert colour_share(frame, (50, 0, 50, 100), ("red",)) == 0.0
    assert colour_share(frame, (50, 0, 50, 100), ("blue",)) == pytest.approx(1.0)
    assert colour_share(frame, (25, 0, 50, 100), ("red", "blue")) == pytest.approx(0.5, abs=0.05)
    assert colour_share(frame, (0, 0, 50, 100), ()) == 0.0
