"""Synthetic vision-language tracking sequences, rendered offline in this project's sequence layout.

Issue 6: the default model learns grounding by words from rendered scenes with generated
descriptions. One sequence is a background (a real photo from a folder, or a procedural one),
several procedurally drawn objects of nameable categories and colours moving along smooth random
paths, the exact box of one of them (the target) per frame, and one sentence that names the target
unambiguously among the others.

Modules, in the order a sequence is made:

* ``shapes``: the colour palette (``COLOURS``) and the object categories' outlines (``CATEGORIES``).
* ``backgrounds``: background photos (``Backgrounds``), procedural canvases, the camera path.
* ``motion``: per-frame paths of centre, size and rotation.
* ``plan``: which objects (target, distractors, twins), where they start, the occlusion or exit event.
* ``draw``: object textures and masks, frames with exact boxes.
* ``sentences``: descriptions that hold for the target only, and their wording.
* ``render``: ``synthesize``, one sequence in memory (frames and ``SceneInfo``, from ``scene``).
* ``write``: ``render_sequence`` and ``render_dataset``, sequences on disk (the layout) with their seeds.
"""
