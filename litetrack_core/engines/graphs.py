"""The model as ONNX graphs: the target encoder (once per target) and the search step (per frame).

Search graph (one per keep ratio, fixed at export), batch 1:
    inputs: ``search`` (1, 3, Tx, Tx) float32 normalised RGB crop, ``prompts`` (1, 3, C) float32,
        and the target's cached tensors named as ``target_tensors`` names them (asymmetric models:
        per block ``k{i}`` / ``v{i}`` (1, heads, keys, head_dim) with the key count free, the
        reference tokens and the target's output tokens; exact models: the text features and
        the template tokens). A runtime may drop inputs the graph never reads.
    outputs: ``OUTPUTS``, the fields of ``HeadOutput`` and ``BackboneOutput`` the tracker reads.
Target graph: ``template`` (1, 3, Tz, Tz), ``text_ids`` / ``text_mask`` (1, L) int64, ``flag``
    (1,) int64 -> the search graph's target inputs.

Each graph carries what it was exported from in its metadata (``litetrack.*``: graph kind, config
as JSON, SHA-256 of the weights, keep ratio), so that a file from another model is refused with
the reason (``check_graph``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from contextlib import contextmanager

import numpy as np
import onnx
import torch
from torch import nn

from litetrack_core.models.head import HeadOutput
from litetrack_core.models.litetrack import NLBBOX, BackboneOutput, LiteTrack, TargetState, TextFeatures
from litetrack_core.models.text import TokenizedText, Tokenizer
from litetrack_core.models.vit import KeyValues

__all__ = [
    "OUTPUTS",
    "GraphMismatch",
    "check_graph",
    "example_target",
    "export_search_graph",
    "export_target_graph",
    "outputs_to_torch",
    "save_graphs",
    "search_graph_file",
    "target_tensors",
    "to_numpy",
    "weights_digest",
]

OUTPUTS = ("score_map", "bbox_map", "cont_score", "pred_boxes", "search_tokens", "template_tokens", "text_tokens",
           "vis_token", "txt_token")
# Bumped when the graphs' inputs or outputs change: older files are refused.
GRAPH_FORMAT = "1"
OPSET = 17
_EXAMPLE_TEXT = "the person in the light blue jacket"


class GraphMismatch(ValueError):
    """An exported graph that does not belong to the model (or to the step) it is used for."""


def target_tensors(state: TargetState) -> dict[str, torch.Tensor]:
    """The target's cached tensors by search-graph input name (one target, batch 1)."""
    if state.flag.shape[0] != 1:
        raise ValueError(f"the search graph runs one target, got a batch of {state.flag.shape[0]}")
    out = {"flag": state.flag}
    if state.kv is None:  # exact attention: template and text are recomputed with every frame
        out.update(text_features=state.text.tokens, text_cls=state.text.cls_per_layer, text_mask=state.text.mask,
                   template_in=state.template_tokens)
        return out
    for i, kv in enumerate(state.kv):
        if kv.visible is not None:
            raise ValueError("the search graph takes only the keys the search tokens may see (one target)")
        out[f"k{i}"], out[f"v{i}"] = kv.k, kv.v
    out.update(vis_ref=state.vis_ref, txt_ref=state.txt_ref, centre=state.centre, template_out=state.template_out,
               text_out=state.text_out)
    return out


def _state_from(model: LiteTrack, t: dict[str, torch.Tensor]) -> TargetState:
    """Inverse of ``target_tensors`` (inside the traced graph). The per-frame step never grounds."""
    if not model.cfg.asymmetric:
        text = TextFeatures(t["text_features"], t["text_cls"], t["text_mask"])
        return TargetState(t["flag"], text, t["template_in"], grounding="none")
    kv = [KeyValues(t[f"k{i}"], t[f"v{i}"], None) for i in range(model.cfg.depth)]
    unused = TextFeatures(t["text_out"], t["txt_ref"], t["text_out"][..., 0])  # the asymmetric path reads none of it
    return TargetState(t["flag"], unused, t["template_out"], kv, t["vis_ref"], t["txt_ref"], t["centre"],
                       t["template_out"], t["text_out"], grounding="none")


class _SearchGraph(nn.Module):
    def __init__(self, model: LiteTrack, names: list[str], keep_ratio: float) -> None:
        super().__init__()
        self.model, self.names, self.keep_ratio = model, names, keep_ratio

    def forward(self, search: torch.Tensor, prompts: torch.Tensor, *target: torch.Tensor):
        state = _state_from(self.model, dict(zip(self.names, target)))
        feats, head = self.model.forward_search(state, search, prompts, self.keep_ratio)
        return (head.score_map, head.bbox_map, head.cont_score, head.pred_boxes, feats.search, feats.template,
                feats.text, feats.vis_token, feats.txt_token)


class _TargetGraph(nn.Module):
    def __init__(self, model: LiteTrack) -> None:
        super().__init__()
        self.model = model

    def forward(self, template: torch.Tensor, text_ids: torch.Tensor, text_mask: torch.Tensor, flag: torch.Tensor):
        state = self.model.encode_target(template, TokenizedText(text_ids, text_mask), flag)
        return tuple(target_tensors(state).values())


def search_graph_file(keep_ratio: float, int8: bool = False) -> str:
    """The search graph's file name in an export folder (its int8 form: ``-int8``)."""
    return f"search-keep{keep_ratio:.2f}{'-int8' if int8 else ''}.onnx"


TARGET_GRAPH_FILE = "target.onnx"


def save_graphs(model: LiteTrack, out_dir: Path, keep_ratios: list[float],
                quantise: Callable[[onnx.ModelProto], onnx.ModelProto] | None = None) -> list[Path]:
    """Write the target graph and a search graph per keep ratio into ``out_dir`` (and, with
    ``quantise``, each search graph's int8 form); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    graphs = {TARGET_GRAPH_FILE: export_target_graph(model)}
    for keep in keep_ratios:
        graphs[search_graph_file(keep)] = export_search_graph(model, keep)
        if quantise is not None:
            graphs[search_graph_file(keep, int8=True)] = quantise(graphs[search_graph_file(keep)])
    for name, graph in graphs.items():
        onnx.save(graph, str(out_dir / name))
    return [out_dir / name for name in graphs]


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A graph input from a tensor: float32 (whatever autocast made it) or int64, contiguous, on the host."""
    t = t.detach().to("cpu")
    return t.numpy() if t.dtype == torch.int64 else t.float().contiguous().numpy()


def outputs_to_torch(values: list) -> tuple[BackboneOutput, HeadOutput]:
    """A search graph's outputs (numpy, in ``OUTPUTS`` order) as the torch step's (backbone, head)."""
    t = [torch.from_numpy(v) for v in values]
    head = HeadOutput(score_map=t[0], bbox_map=t[1], cont_score=t[2], pred_boxes=t[3])
    return BackboneOutput(search=t[4], template=t[5], text=t[6], vis_token=t[7], txt_token=t[8], logits=None), head


def example_target(model: LiteTrack) -> TargetState:
    """A target to trace with: a blank template named by words and box (every input present)."""
    cfg = model.cfg
    device = next(model.parameters()).device
    tokens = Tokenizer(cfg.max_text_tokens)(_EXAMPLE_TEXT)
    template = torch.zeros(1, 3, cfg.template_size, cfg.template_size, device=device)
    flag = torch.tensor([NLBBOX], device=device)
    return model.encode_target(template, TokenizedText(tokens.ids.to(device), tokens.mask.to(device)), flag)


def export_search_graph(model: LiteTrack, keep_ratio: float = 1.0) -> onnx.ModelProto:
    """The per-frame step at ``keep_ratio`` as an ONNX graph (fp32, CPU trace of ``model``)."""
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio={keep_ratio} must be in (0, 1]")
    cfg = model.cfg
    model = model.eval()
    with torch.no_grad(), _no_autocast():
        state = example_target(model)
        tensors = target_tensors(state)
        search = torch.zeros(1, 3, cfg.search_size, cfg.search_size, device=state.flag.device)
        prompts = torch.zeros(1, 3, cfg.embed_dim, device=state.flag.device)
    names = list(tensors)
    # Asymmetric: the fusion blocks' key count depends on the sentence's length.
    dynamic = {name: {2: f"keys{name[1:]}"} for name in names if name[0] in "kv" and name[1:].isdigit()}
    graph = _trace(_SearchGraph(model, names, keep_ratio), (search, prompts, *tensors.values()),
                   ["search", "prompts", *names], list(OUTPUTS), dynamic)
    _stamp(graph, model, "search", keep_ratio)
    return graph


def export_target_graph(model: LiteTrack) -> onnx.ModelProto:
    """The target encoder (template, words, flag -> the search graph's target inputs) as an ONNX graph."""
    cfg = model.cfg
    model = model.eval()
    with torch.no_grad(), _no_autocast():
        state = example_target(model)
    names = list(target_tensors(state))
    device = state.flag.device
    tokens = Tokenizer(cfg.max_text_tokens)(_EXAMPLE_TEXT)
    args = (torch.zeros(1, 3, cfg.template_size, cfg.template_size, device=device), tokens.ids.to(device),
            tokens.mask.to(device), torch.tensor([NLBBOX], device=device))
    dynamic = {name: {2: f"keys{name[1:]}"} for name in names if name[0] in "kv" and name[1:].isdigit()}
    graph = _trace(_TargetGraph(model), args, ["template", "text_ids", "text_mask", "flag_in"], names, dynamic)
    _stamp(graph, model, "target", None)
    return graph


def _trace(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str], dynamic: dict) -> onnx.ModelProto:
    # In eval mode: the exporter restores the wrapper's mode afterwards, recursively, so a wrapper
    # left in training mode would switch the model to training (dropout, gates) for good.
    module.eval()
    buffer = io.BytesIO()
    # fp32 whatever autocast the caller is in (a tracker makes graphs lazily, inside its frame call).
    with torch.no_grad(), _no_autocast(), warnings.catch_warnings():
        # The TorchScript exporter warns about its deprecation and about every shape it reads as a
        # constant; batch 1 and the crop sizes are constants by design.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buffer, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


@contextmanager
def _no_autocast():
    with torch.autocast("cpu", enabled=False):
        if not torch.cuda.is_available():
            yield
            return
        with torch.autocast("cuda", enabled=False):
            yield


def weights_digest(model: LiteTrack) -> str:
    """SHA-256 of the model's parameters and buffers (name, shape, float32 bytes), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def _stamp(graph: onnx.ModelProto, model: LiteTrack, kind: str, keep_ratio: float | None) -> None:
    meta = {
        "litetrack.format": GRAPH_FORMAT,
        "litetrack.graph": kind,
        "litetrack.config": json.dumps(dataclasses.asdict(model.cfg), sort_keys=True),
        "litetrack.weights_sha256": weights_digest(model),
    }
    if keep_ratio is not None:
        meta["litetrack.keep_ratio"] = repr(float(keep_ratio))
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=value)


def check_graph(graph: onnx.ModelProto, model: LiteTrack, kind: str, keep_ratio: float | None = None,
                digest: str | None = None, precision: str = "fp32") -> None:
    """Refuse (``GraphMismatch``, saying why) a graph that was not exported from ``model`` as ``kind``
    at ``keep_ratio``, quantised when ``precision`` is int8 (else not). ``digest``: the model's
    ``weights_digest`` when already known."""
    meta = {p.key: p.value for p in graph.metadata_props}
    stored = "int8" if meta.get("litetrack.precision") == "int8" else "fp32"
    if (stored == "int8") != (precision == "int8"):
        raise GraphMismatch(f"a {stored} graph where a {'int8' if precision == 'int8' else 'float'} one is needed")
    if meta.get("litetrack.format") != GRAPH_FORMAT:
        raise GraphMismatch(f"not a litetrack graph of format {GRAPH_FORMAT} (found {meta.get('litetrack.format')!r}): "
                            "export it again with `litetrack export onnx`")
    if meta.get("litetrack.graph") != kind:
        raise GraphMismatch(f"a {meta.get('litetrack.graph')} graph where a {kind} graph is needed")
    theirs = json.loads(meta.get("litetrack.config", "{}"))
    ours = json.loads(json.dumps(dataclasses.asdict(model.cfg)))
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if differ:
        shown = ", ".join(f"{k}: {theirs.get(k)!r} vs {ours.get(k)!r}" for k in differ[:4])
        raise GraphMismatch(f"exported for config {theirs.get('name')!r}, the model is {model.cfg.name!r} ({shown})")
    if keep_ratio is not None and float(meta.get("litetrack.keep_ratio", "nan")) != float(keep_ratio):
        raise GraphMismatch(f"exported at keep ratio {meta.get('litetrack.keep_ratio')}, {keep_ratio} is asked")
    if meta.get("litetrack.weights_sha256") != (digest or weights_digest(model)):
        raise GraphMismatch("exported from other weights than the model's (SHA-256 of the weights differs)")
    _check_inputs(graph, model, kind)


def _check_inputs(graph: onnx.ModelProto, model: LiteTrack, kind: str) -> None:
    """The image input's static shape is the config's crop (a file edited after export)."""
    cfg = model.cfg
    name, size = ("search", cfg.search_size) if kind == "search" else ("template", cfg.template_size)
    for value in graph.graph.input:
        if value.name == name:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            if dims != [1, 3, size, size]:
                raise GraphMismatch(f"input {name!r} has shape {dims}, the model takes [1, 3, {size}, {size}]")
            return
    raise GraphMismatch(f"the graph has no input {name!r}")
