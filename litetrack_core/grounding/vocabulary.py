"""What words can name, as data: the detector's 80 COCO classes with synonyms, basic colour terms,
position, size and part words. Which class a sentence names is decided by the text encoder's
similarity to these names (``sentence.py``), so a word missing here ("pedestrian", "sedan") still
finds its class; the synonyms only widen what each class is compared with.
"""

from __future__ import annotations

__all__ = ["COCO_CLASSES", "CLASS_SYNONYMS", "COLOUR_WORDS", "PART_WORDS", "POSITION_WORDS", "SIZE_WORDS"]

# The detector's class order (index = its class output).
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

# Other names of a class, compared with the sentence's words as the class name is.
CLASS_SYNONYMS = {
    "person": ("man", "woman", "boy", "girl", "child", "kid", "baby", "people", "pedestrian", "player", "athlete",
               "runner", "sprinter", "dancer", "breakdancer", "performer", "skater", "singer", "walker", "cyclist",
               "biker", "rider", "jockey", "driver", "surfer", "wakeboarder", "paraglider", "diver"),
    "bicycle": ("bike", "cycle"),
    "car": ("sedan", "hatchback", "suv", "taxi", "jeep", "vehicle"),
    "motorcycle": ("motorbike", "scooter", "moped"),
    "airplane": ("plane", "aircraft", "jet"),
    "bus": ("coach",),
    "truck": ("lorry", "pickup", "van"),
    "boat": ("ship", "speedboat", "motorboat", "yacht"),
    "bird": ("swan", "duck", "goose", "gull", "seagull", "pigeon", "eagle"),
    "dog": ("puppy",),
    "cow": ("cattle", "calf"),
    "handbag": ("bag", "purse"),
    "sports ball": ("ball", "football", "basketball"),
    "tv": ("television", "monitor", "screen"),
    "cell phone": ("phone", "smartphone", "mobile"),
    "couch": ("sofa",),
    "teddy bear": ("teddy", "stuffed toy", "toy dog"),
}

# Basic colour terms (Berlin & Kay) and the words that name them; "dark" and "light" name brightness.
COLOUR_WORDS = {
    "black": ("black",), "white": ("white",), "grey": ("grey", "gray", "silver"), "red": ("red", "maroon"),
    "orange": ("orange",), "yellow": ("yellow", "golden", "gold"), "green": ("green",), "blue": ("blue", "navy"),
    "purple": ("purple", "violet"), "pink": ("pink",), "brown": ("brown", "tan", "chestnut", "beige"),
    "dark": ("dark", "darker"), "light": ("light", "pale", "bright", "light-coloured", "light-colored"),
}

# Where in the frame: (axis, target) with x or y normalised to [0, 1]; "centre" aims at 0.5 on both.
POSITION_WORDS = {
    "left": ("x", 0.0), "leftmost": ("x", 0.0), "right": ("x", 1.0), "rightmost": ("x", 1.0),
    "top": ("y", 0.0), "upper": ("y", 0.0), "above": ("y", 0.0), "bottom": ("y", 1.0), "lower": ("y", 1.0),
    "foreground": ("y", 1.0), "centre": ("c", 0.5), "center": ("c", 0.5), "middle": ("c", 0.5),
}

# Relative size among the class's proposals: +1 the largest, -1 the smallest.
SIZE_WORDS = {
    "big": 1.0, "bigger": 1.0, "biggest": 1.0, "large": 1.0, "larger": 1.0, "largest": 1.0, "tall": 1.0,
    "nearest": 1.0, "closest": 1.0, "small": -1.0, "smaller": -1.0, "smallest": -1.0, "tiny": -1.0,
    "little": -1.0, "distant": -1.0, "far": -1.0,
}

# Parts of a person that a box may hold alone: the box is then the part, found inside the person.
PART_WORDS = ("face", "head", "helmet")
