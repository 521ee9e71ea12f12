"""The tracking loop: a target set once (words, box or both), then one ``track`` call per frame.

Frames are RGB uint8 arrays (H, W, 3); boxes are (x, y, w, h) in image pixels. What depends only
on the target (text features, template crop and masks, prompts) is computed in ``set_target``
and reused; ``track`` crops the search region around the last box, runs the model once (twice when
a target memory checks its answer) and decodes the best cell of score x Hanning window x target
probability (as UVLTrack does).

Added for robots: when the score stays low for ``lost_after`` frames the state becomes LOST, and
a target named in words is looked for again on the whole frame every ``reground_every`` frames
until grounding is confident.

Grounding by words (set_target with words only, and re-grounding): with a ``grounder`` (the object
detector's proposals ranked by the sentence, ``grounding/grounder.py``) the model's grounding map
scores each proposal too, and the best proposal is taken when it is likely enough; otherwise, or
without a grounder, the model's own grounding box. Every TrackResult says which path grounded.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import torch

from litetrack_core.engines.engine import GraphEngine, GraphStep, TorchEngine, create_engine
from litetrack_core.engines.runtimes import EngineError
from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import BBOX, NLBBOX, BackboneOutput, LiteTrack, TargetState, TextFeatures
from litetrack_core.models.step import prepare_for_inference
from litetrack_core.models.text import TokenizedText, Tokenizer
from litetrack_core.tracking.boxes import clip_to_frame, to_image
from litetrack_core.tracking.budget import KEEP_RATIOS, KeepRatioController
from litetrack_core.tracking.config import TrackerConfig
from litetrack_core.tracking.crop import Crop, box_in_crop, cell_mask, crop_around, to_model_input
from litetrack_core.tracking.grounding import model_grounding
from litetrack_core.tracking.inputs import Box, check_box, check_frame
from litetrack_core.tracking.memory import TargetMemory, agreement
from litetrack_core.tracking.types import Timing, TrackResult, TrackState

if TYPE_CHECKING:
    from litetrack_core.grounding.grounder import Grounding, ProposalGrounder
    from litetrack_core.models.step import FrameStep

__all__ = ["Tracker", "TrackerConfig", "check_box", "check_frame"]

log = logging.getLogger(__name__)

Precision = Literal["fp32", "fp16", "bf16", "int8"]
# Proposals of the named class that re-grounding scores against the target memory.
_MEMORY_CANDIDATES = 3
# Autocast dtype of the torch work per precision; int8 is an engine's quantised graph (torch in fp32).
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": None}


@dataclass
class _Target:
    """Everything computed once per target, plus the loop's running state."""

    text: str | None
    words: TextFeatures  # the text's features, for grounding by words (empty without text)
    state: TargetState  # the model's cached target (text features, template; all blocks if asymmetric)
    template_mask: torch.Tensor
    step: FrameStep | GraphStep  # the per-frame model call (the engine's), holding the prompts
    box: np.ndarray  # (x, y, w, h) float64, pixels, the state the next search is centred on
    aspect: float  # w / h of the box the target was set with (``aspect_anchor``)
    frame_index: int = 0
    weak_frames: int = 0
    lost_frames: int = 0
    track_state: TrackState = TrackState.TRACKING
    best_score: float = 0.0
    best_feats: BackboneOutput | None = None
    best_box_net: np.ndarray | None = None
    memory: TargetMemory | None = None
    read_step: FrameStep | GraphStep | None = None  # ``step`` reading the memory too (after a write)
    reads_memory: bool = False  # whether the next frame's call is ``read_step`` (``MemoryConfig.read``)

    @property
    def next_step(self) -> FrameStep | GraphStep:
        """The call the next frame makes: ``read_step`` when it reads the memory, else ``step``."""
        return self.read_step if self.reads_memory else self.step


class _Answer(NamedTuple):
    """One model call's decoded output: its features, best cell, score there, that cell's box
    (crop-normalised cx, cy, w, h) and the box in the image (x, y, w, h px, before clipping)."""

    feats: BackboneOutput
    best: int
    score: float
    box_net: np.ndarray
    box: np.ndarray


class Tracker:
    """LiteTrack driven frame by frame. See the module docstring.

    Args:
        model: a LiteTrack model (it is put in eval mode and moved to ``device``).
        config: loop behaviour.
        device: torch device for the model.
        precision: "fp32", or "fp16" / "bf16" autocast for the model calls (the engine's own reduced
            precision for ONNX engines), or "int8" (onnxruntime, with quantised graphs from ``graph_dir``).
        cuda_graphs: replay the per-frame step from CUDA graphs (CUDA only; see ``models/step.py``).
        grounder: grounds words through object proposals (None: the model's grounding alone).
        engine: what runs the per-frame model call: "torch", "onnxruntime", "openvino", "tensorrt",
            or "auto" (the fastest installed here, by measurement); see ``engines/engine.py``. Or
            another tracker's ``engine`` (same model): its compiled graphs are shared.
        threads: CPU threads for torch and the engine (0: their defaults, every core).
        graph_dir: exported graphs (``litetrack export onnx``) for the ONNX engines; None: exported
            in-process from ``model``.
    """

    def __init__(
        self,
        model: LiteTrack,
        config: TrackerConfig | None = None,
        device: str | torch.device = "cpu",
        precision: Precision = "fp32",
        cuda_graphs: bool = False,
        grounder: ProposalGrounder | None = None,
        engine: str | TorchEngine | GraphEngine = "torch",
        threads: int = 0,
        graph_dir: str | Path | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {sorted(PRECISIONS)}")
        if threads < 0:
            raise ValueError(f"threads={threads} must be >= 0 (0: every core)")
        self.device = torch.device(device)
        if cuda_graphs and self.device.type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device, got {self.device}")
        self.model = prepare_for_inference(model.to(self.device))
        self.config = config or TrackerConfig()
        self.precision = precision
        self.cuda_graphs = cuda_graphs
        self.grounder = grounder
        if threads:
            torch.set_num_threads(threads)  # process-wide: torch has no per-model thread count
        try:
            self.engine = create_engine(engine, self.model, self.device, precision, cuda_graphs, threads, graph_dir)
        except EngineError as err:
            raise ValueError(str(err)) from None
        self.tokenizer = Tokenizer(model.cfg.max_text_tokens)
        grid = model.cfg.search_grid
        self._window = np.outer(np.hanning(grid), np.hanning(grid)).reshape(-1)
        self._target: _Target | None = None
        if self.config.memory_size and not model.cfg.asymmetric:
            raise ValueError(f"memory_size needs an asymmetric model (target keys cached); {model.cfg.name} is not")
        self.keep_ratio = self.config.keep_ratio
        self._budget: KeepRatioController | None = None
        if self.config.latency_budget_ms > 0:
            if not model.cfg.prune_blocks:
                raise ValueError(f"latency_budget_ms needs a model with pruning blocks; {model.cfg.name} has none")
            ratios = sorted({*KEEP_RATIOS, self.keep_ratio}, reverse=True)
            self._budget = KeepRatioController(self.config.latency_budget_ms, ratios, start=self.keep_ratio)
        self._prepare(self.keep_ratio if model.cfg.prune_blocks else 1.0)

    @property
    def has_target(self) -> bool:
        return self._target is not None

    @property
    def target_text(self) -> str | None:
        """The words the current target was named with (None for a box-only target or none)."""
        return self._target.text if self._target is not None else None

    @property
    def model_target(self) -> tuple[TargetState, torch.Tensor] | None:
        """The model's cached target and the prompts (1, 3, C) of the coming frames, or None: what an
        engine's search step takes besides the crop (for exporting and calibrating engines)."""
        if self._target is None:
            return None
        return self._target.state, self._target.step.prompts

    def reset(self) -> None:
        """Forget the target."""
        self._target = None

    def set_target(self, frame: np.ndarray, text: str | None = None, box: Box | None = None) -> TrackResult:
        """Start tracking on ``frame`` (RGB uint8, H x W x 3).

        Words only: the target is grounded on the whole frame first. Box only: BBOX mode. Both:
        NLBBOX. ``box`` is (x, y, w, h) in pixels and must overlap the frame. Raises ValueError
        for empty text, a bad box, a bad frame, or neither text nor box.
        """
        with torch.no_grad(), self._autocast():
            return self._set_target(frame, text, box)

    def _set_target(self, frame: np.ndarray, text: str | None, box: Box | None) -> TrackResult:
        start = time.perf_counter()
        frame = check_frame(frame)
        if text is None and box is None:
            raise ValueError("set_target needs text, a box, or both")
        if box is not None:
            box = check_box(box, frame.shape)
        cfg = self.model.cfg
        text_feats = self._encode_text(text)
        # Words + box: the words condition each frame's model call too, unless the loop keeps them
        # for finding the target again (``words_in_step``).
        in_step = text is not None and (box is None or self.config.words_in_step)
        score, path = float("nan"), ""
        if box is None:
            box, score, path = self._ground(frame, text, text_feats)
        step_text = text_feats if in_step or text is None else self._encode_text(None)
        flag = torch.tensor([NLBBOX if in_step else BBOX], device=self.device)
        template = crop_around(frame, box, cfg.template_factor, cfg.template_size)
        context = crop_around(frame, box, cfg.search_factor, cfg.search_size)
        template_mask = self._mask(box_in_crop(box, template.side_px), cfg.template_grid)
        context_mask = self._mask(box_in_crop(box, context.side_px), cfg.search_grid)
        # Prompts come from the template and its context at initialisation (the context crop
        # plays the search region's part), without pruning: once per target, at full quality.
        state = self.model.encode_target(to_model_input(template.image).to(self.device), step_text, flag)
        context_in = to_model_input(context.image).to(self.device)
        feats = self.model.forward_backbone(state, context_in, with_logits=False)
        prompts = self.model.make_prompts(feats, template_mask, feats.search, context_mask, flag)
        step = self.engine.frame_step(state, prompts)
        self._target = _Target(text, text_feats, state, template_mask, step, np.array(box, dtype=np.float64), box[2] / box[3])
        if self.config.memory_size:
            self._target.memory = self._new_memory(state, feats.search[0][context_mask[0]])
        timing = Timing(model_ms=(time.perf_counter() - start) * 1000)
        return TrackResult(0, clip_to_frame(box, frame.shape), score, TrackState.TRACKING, timing,
                           grounding=path, grounding_score=score, **self._memory_status(self._target))

    def track(self, frame: np.ndarray) -> TrackResult:
        """The target on the next frame (RGB uint8, H x W x 3). Call ``set_target`` first."""
        target = self._target
        if target is None:
            raise RuntimeError("no target: call set_target(frame, text=..., box=...) before track(frame)")
        frame = check_frame(frame)
        with torch.no_grad(), self._autocast():
            return self._track(target, frame)

    def _track(self, target: _Target, frame: np.ndarray) -> TrackResult:
        keep_ratio = self.keep_ratio if self.model.cfg.prune_blocks else 1.0  # what really runs
        self._prepare(keep_ratio)
        t0 = time.perf_counter()
        crop, search = self._search_input(frame, tuple(target.box))
        t1 = time.perf_counter()
        read = target.reads_memory
        answer = self._answer(target, target.next_step, crop, search, keep_ratio, frame.shape)
        overruled = False
        if read and target.memory.doubts(tuple(answer.box), tuple(target.box)):
            plain = self._answer(target, target.step, crop, search, keep_ratio, frame.shape)
            overruled = target.memory.overrules(tuple(plain.box), tuple(answer.box))
            answer = plain if overruled else answer
        t2 = time.perf_counter()
        target.frame_index += 1
        target.box, score = answer.box, answer.score
        self._remember_best(target, score, answer.feats, answer.box_net)
        grounding = self._update_state(target, frame, score)
        if target.memory is not None:
            cell = answer.feats.search[0, answer.best]
            self._remember_target(target, target.memory, frame, score, cell, grounding is not None)
            target.reads_memory = target.memory.reads_after(score)
        t3 = time.perf_counter()
        timing = Timing((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)
        if self._budget is not None:
            self.keep_ratio = self._budget.update(timing.total_ms)
        box = clip_to_frame(tuple(target.box), frame.shape)
        path, g_score, regrounded = grounding if grounding is not None else ("", float("nan"), False)
        return TrackResult(target.frame_index, box, score, target.track_state, timing, regrounded, answer.best,
                           keep_ratio, path, g_score, **self._memory_status(target), memory_read=read,
                           memory_overruled=overruled)

    def probe(self, frame: np.ndarray, box: Box, keep_ratio: float | None = None) -> tuple[BackboneOutput, HeadOutput]:
        """The model's output on the search crop of ``frame`` around ``box`` (x, y, w, h pixels), from
        the call the next frame would make (reading the memory if it would), leaving the tracker's state
        as it was (for analysis: agreement between settings, maps). With CUDA graphs the result is
        overwritten by the next call."""
        target = self._target
        if target is None:
            raise RuntimeError("no target: call set_target first")
        _, search = self._search_input(check_frame(frame), check_box(box, frame.shape))
        with torch.no_grad(), self._autocast():
            return target.next_step(search, self.keep_ratio if keep_ratio is None else keep_ratio)

    def warm_up(self) -> None:
        """Ground a sentence once on a blank 640x480 frame (the model, the sentence reader, the object
        detector and the pose model load and run), leaving no target: the first real request by words
        then costs what later ones do (set_target by words, default model on this CPU: 630 ms first,
        223 ms after)."""
        blank = np.zeros((480, 640, 3), np.uint8)
        with torch.no_grad(), self._autocast():
            self._ground(blank, "the person", self._encode_text("the person"))
        if self.grounder is not None:
            self.grounder.pose(blank, (0.0, 0.0, 64.0, 128.0))

    def ground_with_model(self, frame: np.ndarray, text: str):
        """The model's own grounding of ``text`` on an RGB uint8 frame, without touching the target:
        (box (x, y, w, h) pixels, score, region score function of a box). For analysis and for fitting
        the proposal ranking (``training/ranking.py``)."""
        with torch.no_grad(), self._full_precision():
            return model_grounding(self.model, check_frame(frame), self._encode_text(text))

    # ------------------------------------------------------------------ steps

    def _ground(self, frame: np.ndarray, text: str, text_feats: TextFeatures,
                target: _Target | None = None) -> tuple[Box, float, str]:
        """Find the words on the whole frame: (box in image pixels, score, path): the best proposal
        and its probability ("proposals") when the grounder finds one, else the model's box and its
        score at the chosen cell ("model"). Re-grounding a ``target`` with a memory first scores the
        candidates against it ("memory", ``_ground_with_memory``)."""
        with_memory = target is not None and target.memory is not None and len(target.memory) > 0
        with self._full_precision():
            box, score, region = model_grounding(self.model, frame, text_feats)
            # one detector run serves both paths: the memory weighs the best few, else the best alone
            ranked = [] if self.grounder is None else self.grounder.rank(
                frame, text, region, top=_MEMORY_CANDIDATES if with_memory else 1)
        if with_memory:
            found = self._ground_with_memory(target, frame, ranked)
            if found is not None:
                return found[0], found[1], "memory"
        found = None if self.grounder is None else self.grounder.sure(ranked)
        if found is not None:
            return found.box_xywh_px, found.probability, "proposals"
        return box, score, "model"

    def _ground_with_memory(self, target: _Target, frame: np.ndarray,
                           candidates: list[Grounding]) -> tuple[Box, float] | None:
        """The sentence's best proposals (``Grounder.rank``, whatever their probability) each scored by
        the tracking step itself around them, which reads the first template and the memory: the best
        probability x step score wins if its step score reaches ``lost_score``; else None."""
        best: tuple[float, Box] | None = None
        for found in candidates:
            _, search = self._search_input(frame, found.box_xywh_px)
            _, head = target.read_step(search, self.keep_ratio if self.model.cfg.prune_blocks else 1.0)
            step_score = float((head.score_map[0].reshape(-1) * head.target_prob[0]).max())
            if step_score >= self.config.lost_score and (best is None or found.probability * step_score > best[0]):
                best = (found.probability * step_score, found.box_xywh_px)
        return None if best is None else (best[1], best[0])

    def _answer(self, target: _Target, step: FrameStep | GraphStep, crop: Crop, search: torch.Tensor,
                keep_ratio: float, shape: tuple[int, ...]) -> _Answer:
        """``step`` on the search crop, decoded at its best cell (module docstring)."""
        feats, head = step(search, keep_ratio)
        score_map = head.score_map[0].reshape(-1).double().cpu().numpy()
        prob = head.target_prob[0].double().cpu().numpy()
        best = int(np.argmax(score_map * self._window * prob))
        box_net = head.bbox_map[0, best].float().cpu().numpy()
        box = to_image(box_net, self.model.cfg.search_size, crop.resize_factor, target.box, shape, target.aspect,
                       self.config)
        return _Answer(feats, best, float(score_map[best] * prob[best]), box_net, box)

    def _remember_best(self, target: _Target, score: float, feats: BackboneOutput, box_net: np.ndarray) -> None:
        """Prompt update (UVLTrack): every ``update_interval`` frames, rebuild the prompts from
        the best-scoring frame since the last update if its score is high enough."""
        interval = self.config.update_interval
        if not interval:
            return
        if score > target.best_score:
            # Cloned: with CUDA graphs the next frame overwrites this frame's outputs.
            kept = BackboneOutput(
                feats.search.clone(), feats.template.clone(), feats.text, feats.vis_token.clone(), feats.txt_token.clone(), None
            )
            target.best_score, target.best_feats, target.best_box_net = score, kept, box_net.copy()
        if target.frame_index % interval == 0 and target.best_score > self.config.update_score and target.best_feats is not None:
            cx, cy, w, h = target.best_box_net
            mask = self._mask(np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float32), self.model.cfg.search_grid)
            f = target.best_feats
            prompts = self.model.make_prompts(f, target.template_mask, f.search, mask, target.state.flag)
            for step in (target.step, target.read_step):
                if step is not None:
                    step.set_prompts(prompts)
            target.best_score = 0.0

    def _new_memory(self, state: TargetState, target_cells: torch.Tensor) -> TargetMemory:
        """An empty memory for a new target: its references are the last block's visual reference token
        and, for a named target, the words'; the first frame's agreement is that of its best target cell
        (``target_cells`` (n, C): the context crop's cells inside the box)."""
        refs = state.vis_ref[0, -1:] if state.text.mask.sum() == 0 else torch.cat([state.vis_ref[0, -1:], state.txt_ref[0, -1:]])
        first = agreement(target_cells, refs).amax(dim=0)
        return TargetMemory(self.config.memory, refs, first)

    def _remember_target(self, target: _Target, memory: TargetMemory, frame: np.ndarray, score: float,
                         cell: torch.Tensor, grounded: bool) -> None:
        """Offer this frame to the memory, and write when due (``tracking/memory.py``). Nothing is
        written while LOST; a frame whose box came from words (re-grounding) is no candidate."""
        if target.track_state is TrackState.LOST:
            memory.drop_candidate()
            return
        if not grounded and memory.wants(score) and memory.agrees(cell):
            cfg = self.model.cfg
            crop = crop_around(frame, tuple(target.box), cfg.template_factor, cfg.template_size)
            cells = self._mask(box_in_crop(tuple(target.box), crop.side_px), cfg.template_grid)
            memory.offer(score, to_model_input(crop.image).to(self.device), cells)
        if memory.write_due(target.frame_index):
            memory.write(self.model, target.frame_index)
            target.read_step = self.engine.frame_step(memory.state(target.state), target.step.prompts)

    @staticmethod
    def _memory_status(target: _Target) -> dict:
        memory = target.memory
        return {} if memory is None else {"memory_entries": len(memory), "memory_last_write": memory.last_write}

    def _update_state(self, target: _Target, frame: np.ndarray, score: float) -> tuple[str, float, bool] | None:
        """TRACKING <-> LOST from the score; re-ground words while LOST. Returns None when no grounding
        ran, else (path, grounding score, whether the target was taken from it)."""
        cfg = self.config
        if score >= cfg.lost_score:
            target.weak_frames, target.lost_frames = 0, 0
            target.track_state = TrackState.TRACKING
            return None
        target.weak_frames += 1
        if not cfg.lost_after or target.weak_frames < cfg.lost_after:
            return None
        if target.track_state is TrackState.TRACKING:
            log.info("target lost at frame %d (score %.3f for %d frames)", target.frame_index, score, target.weak_frames)
        target.track_state = TrackState.LOST
        target.lost_frames += 1
        if not (cfg.regrounding and target.text is not None) or target.lost_frames % cfg.reground_every:
            return None
        box, g_score, path = self._ground(frame, target.text, target.words, target)
        # A proposal is returned only when likely enough; the model's score has its own threshold.
        if path == "model" and g_score < cfg.reground_score:
            return path, g_score, False
        log.info("target found again by words at frame %d (%s, score %.3f)", target.frame_index, path, g_score)
        target.box = np.array(box, dtype=np.float64)
        target.track_state, target.weak_frames, target.lost_frames = TrackState.TRACKING, 0, 0
        return path, g_score, True

    # ------------------------------------------------------------------ helpers

    def _prepare(self, keep_ratio: float) -> None:
        """Make the engine's graph for ``keep_ratio`` before it is timed: made inside a frame's step
        (about a second), it would read as that ratio's cost to a latency budget. The starting
        ratio's is made with the tracker; a budget's other ratios when it first picks them."""
        if isinstance(self.engine, GraphEngine):
            try:
                self.engine.runner(keep_ratio)
            except EngineError as err:  # a graph folder without this keep ratio, or from another model
                raise ValueError(str(err)) from None

    def _autocast(self):
        """The precision's autocast. Each public call enters it and no_grad once, around all of its
        model work (the frame's step, prompt updates, re-grounding): ``FrameStep`` enters neither,
        as a second entry per frame costs host time and changes nothing."""
        dtype = PRECISIONS[self.precision]
        return nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    def _full_precision(self):
        """Autocast off, for finding words on the whole frame (the sentence's features, the model's
        grounding map, the object detector): it runs once per target or per lost stretch, so float32
        costs little, and it chooses between proposals whose scores can differ by less than bf16's
        rounding (the demo's first frame: the walker won at 0.360 in float32, a bystander at 0.367 in bf16)."""
        return nullcontext() if PRECISIONS[self.precision] is None else torch.autocast(self.device.type, enabled=False)

    def _search_input(self, frame: np.ndarray, box: Box) -> tuple[Crop, torch.Tensor]:
        """The search crop around ``box`` (x, y, w, h px) and its model input on the device."""
        cfg = self.model.cfg
        crop = crop_around(frame, box, cfg.search_factor, cfg.search_size)
        return crop, to_model_input(crop.image).to(self.device)

    def _mask(self, box_norm: np.ndarray, grid: int) -> torch.Tensor:
        return torch.from_numpy(cell_mask(box_norm, grid)).unsqueeze(0).to(self.device)

    def _encode_text(self, text: str | None) -> TextFeatures:
        """The model's features of ``text`` (None: the empty text, which box mode's step reads)."""
        tokens = self.tokenizer(text) if text is not None else TokenizedText.empty(self.model.cfg.max_text_tokens)
        with self._full_precision():  # float32 features serve grounding and, cast by autocast, the step
            return self.model.encode_text(TokenizedText(tokens.ids.to(self.device), tokens.mask.to(self.device)))
