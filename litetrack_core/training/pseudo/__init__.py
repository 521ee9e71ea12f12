"""Self-supervised tracking sequences from imagery without boxes: real video and still photos.

Two sources, both written in this project's sequence layout (``SEQ/img/000001.jpg``,
``groundtruth.txt`` with one ``x,y,w,h`` line per frame, ``SOURCE.txt``; no ``language.txt``, so
``load_dataset`` gives ``language`` None and the sampler draws BBOX samples only from them):

* Real video, pseudo boxes from optical flow: ``frames`` (reading video files, frame folders or
  arrays), ``flow`` (forward-backward Lucas-Kanade, the background's motion), ``proposals``
  (salient boxes on a clip's first frame), ``tracks`` (``pseudo_tracks``: MedianFlow-style box
  following) and ``write`` (``write_pseudo_sequences``).
* Still photos, exact boxes: ``warps`` (``warp_pairs``: random homographies of one photo) and
  ``write`` (``write_warp_sequences``).

Pseudo boxes follow a region, not necessarily a whole object: use them for tracking pairs
(template and search a few frames apart), not for measuring accuracy.
"""
