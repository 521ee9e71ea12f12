"""Engines: the model exported to ONNX and run by ONNX Runtime / OpenVINO gives torch's boxes on
real frames; auto chooses among what is installed; what cannot run is refused, saying why."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from conftest import tiny_model
from litetrack_core.cli import main as cli
from litetrack_core.data.load import load_dataset
from litetrack_core.engines import RUNTIMES, EngineError, create_engine
from litetrack_core.engines.engine import choose_engine
from litetrack_core.engines.graphs import GraphMismatch, check_graph, export_search_graph, save_graphs, search_graph_file
from litetrack_core.export.calibrate import calibration_feeds, quantise_search_graph
from litetrack_core.engines.runtimes import Runtime
from litetrack_core.export.validate import compare_target_graph, compare_with_torch
from litetrack_core.tracking.load import load_tracker
from litetrack_core.tracking.tracker import Tracker, TrackerConfig
from litetrack_core.weights.checkpoint import DEFAULT_CHECKPOINT

CPU = torch.device("cpu")
# Agreement with torch fp32 on real frames: ONNX graphs compute the same float32 operations in
# another order, so scores and boxes differ in the last digits only.
SCORE_TOL, BOX_PX_TOL = 1e-4, 0.01


@pytest.fixture(scope="module")
def sequence(clip):
    return load_dataset(clip.parent, [clip.name])[0]


@pytest.fixture(scope="module")
def default_model():
    return load_tracker(device="cpu", proposals=False).model


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("keep_ratio", [1.0, 0.7])
def test_exported_default_model_agrees_with_torch_on_real_frames(default_model, sequence, engine, keep_ratio):
    diff = compare_with_torch(default_model, engine, sequence, frames=12, keep_ratio=keep_ratio)
    assert diff["frames"] == 12
    assert diff["max_score_diff"] < SCORE_TOL
    assert diff["max_best_box_diff_px"] < BOX_PX_TOL
    assert diff["same_best_cell"] == 1.0


@pytest.mark.slow
def test_openvino_bf16_stays_near_torch(default_model, sequence):
    """bf16 keeps 8 bits of mantissa: close, not equal (its accuracy on the dev set: docs/engines.md)."""
    diff = compare_with_torch(default_model, "openvino", sequence, frames=12, precision="bf16")
    assert 0 < diff["max_score_diff"] < 0.1
    assert diff["same_best_cell"] >= 0.75


@pytest.mark.slow
def test_target_graph_matches_encode_target(default_model, sequence, tmp_path):
    paths = save_graphs(default_model, tmp_path, [1.0])
    assert [p.name for p in paths] == ["target.onnx", search_graph_file(1.0)]
    assert compare_target_graph(default_model, onnx.load(str(paths[0])), sequence) < 1e-3


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
@pytest.mark.parametrize("asymmetric", [False, True])
def test_tracker_on_engine_follows_torch_through_prompt_updates(clip, sequence, asymmetric, engine):
    """The whole loop (crop, step, decode, prompt updates every 3 frames) on an engine gives torch's
    boxes, for both attention kinds, pruned."""
    model = tiny_model(asymmetric=asymmetric, prune_blocks=(1,))
    config = TrackerConfig(update_interval=3, update_score=0.0, regrounding=False, keep_ratio=0.75)
    trackers = [Tracker(model, config, engine=name) for name in ("torch", engine)]
    boxes = []
    for tracker in trackers:
        tracker.set_target(sequence.frame(0), sequence.language, tuple(sequence.ground_truth[0]))
        boxes.append([tracker.track(sequence.frame(i)).box_xywh_px for i in range(1, 10)])
    assert trackers[1].engine.name == engine
    np.testing.assert_allclose(boxes[1], boxes[0], atol=BOX_PX_TOL)


def test_trackers_of_one_model_share_an_engine(sequence):
    model = tiny_model()
    first = Tracker(model, engine="onnxruntime")
    second = Tracker(model, engine=first.engine)
    assert second.engine is first.engine
    with pytest.raises(ValueError, match="runs another model"):
        Tracker(tiny_model(), engine=first.engine)


def test_auto_times_every_installed_engine_and_keeps_the_fastest():
    model = tiny_model(asymmetric=True)
    engine, times = choose_engine(model, CPU)
    installed = {"torch", *(name for name, r in RUNTIMES.items() if r.device == "cpu" and r.available())}
    assert set(times) == installed
    assert {"onnxruntime", "openvino"} <= installed  # setup installs both
    assert times[engine.name] == min(times.values())
    assert all(t > 0 for t in times.values())


def test_auto_with_bf16_leaves_out_what_runs_only_fp32():
    _, times = choose_engine(tiny_model(asymmetric=True), CPU, precision="bf16")
    assert "onnxruntime" not in times and {"torch", "openvino"} <= set(times)


def test_engines_that_cannot_run_are_refused_with_what_to_install():
    model = tiny_model()
    with pytest.raises(ValueError, match="not one of auto, torch, onnxruntime"):
        Tracker(model, engine="tflite")
    with pytest.raises(ValueError, match="engine onnxruntime runs fp32, int8, not bf16"):
        Tracker(model, precision="bf16", engine="onnxruntime")
    with pytest.raises(ValueError, match="engine tensorrt runs on cuda, the tracker's device is cpu"):
        Tracker(model, engine="tensorrt")
    with pytest.raises(EngineError, match=r"tensorrt needs ONNX Runtime built with TensorRT .*pip install onnxruntime-gpu tensorrt"):
        RUNTIMES["tensorrt"].check()  # this machine's onnxruntime is the CPU build
    missing = Runtime("fastinfer", "fastinfer_not_installed", "fastinfer==2.0", ("fp32",), "cpu")
    assert not missing.available()
    with pytest.raises(EngineError, match=r"engine fastinfer is not installed: pip install fastinfer==2\.0"):
        missing.check()
    with pytest.raises(ValueError, match="threads=-1 must be >= 0"):
        Tracker(model, threads=-1)


def test_exported_files_from_another_model_are_refused(tmp_path):
    model = tiny_model()
    save_graphs(model, tmp_path, [1.0])
    sequence_free = Tracker(model, engine="onnxruntime", graph_dir=tmp_path)
    run, names = sequence_free.engine.runner(1.0)  # its own graphs load
    assert "search" in names
    other_weights = tiny_model()
    with torch.no_grad():
        other_weights.head.parameters().__next__().add_(1.0)
    with pytest.raises(GraphMismatch, match="other weights"):
        create_engine("onnxruntime", other_weights, CPU, graph_dir=tmp_path).runner(1.0)
    with pytest.raises(GraphMismatch, match="search_size: 128 vs 160"):
        create_engine("onnxruntime", tiny_model(search_size=160), CPU, graph_dir=tmp_path).runner(1.0)
    with pytest.raises(EngineError, match=r"search-keep0\.50\.onnx is missing: export that keep ratio"):
        create_engine("onnxruntime", model, CPU, graph_dir=tmp_path).runner(0.5)


def test_damaged_or_edited_files_are_refused(tmp_path):
    model = tiny_model()
    save_graphs(model, tmp_path, [1.0])
    path = tmp_path / search_graph_file(1.0)
    graph = onnx.load(str(path))
    graph.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 96
    with pytest.raises(GraphMismatch, match=r"input 'search' has shape \[1, 3, 96, 128\], the model takes \[1, 3, 128, 128\]"):
        check_graph(graph, model, "search", 1.0)
    with pytest.raises(GraphMismatch, match="a search graph where a target graph is needed"):
        check_graph(export_search_graph(model), model, "target")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(GraphMismatch, match="not a readable ONNX file"):
        create_engine("onnxruntime", model, CPU, graph_dir=tmp_path).runner(1.0)


def test_threads_set_torch_and_the_engine():
    before = torch.get_num_threads()
    try:
        tracker = Tracker(tiny_model(), engine="openvino", threads=1)
        assert torch.get_num_threads() == 1 and tracker.engine.threads == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_export_command_writes_and_checks_the_graphs(tmp_path, capsys):
    assert cli(["export", "onnx", str(tmp_path), "--keep", "1.0", "--frames", "3"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "target.onnx").is_file() and (tmp_path / "search-keep1.00.onnx").is_file()
    assert "target graph vs torch encode_target" in out
    for setting in ("onnxruntime  fp32", "openvino     fp32", "openvino     bf16"):
        assert f"{setting} keep 1.00: max |score diff|" in out
    assert cli(["export", "onnx", str(tmp_path), "--keep", "1.5"]) == 2
    assert "keep ratio 1.5 must be in (0, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_runs_engines_as_cases_of_one_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli(["bench", "--checkpoint", str(DEFAULT_CHECKPOINT), "--attention", "asymmetric", "--engine", "torch", "onnxruntime", "openvino",
                "--precision", "fp32", "bf16", "--frames", "3", "--warmup", "1", "--threads", "2", "--json", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["engine"], r["precision"]) for r in rows] == [
        ("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]
    assert rows[0]["step_vs_torch"] == 1.0
    assert all(r["step_vs_torch"] > 0 for r in rows)
    assert rows[2]["same_cell"] == 1.0  # onnxruntime fp32 against torch fp32: the same best cell
    assert "1 combinations skipped" in capsys.readouterr().err


def test_int8_graphs_are_calibrated_on_real_frames_and_checked(sequence, tmp_path):
    model = tiny_model(asymmetric=True)
    with pytest.raises(ValueError, match="int8 needs a search graph quantised on calibration frames"):
        Tracker(model, precision="int8", engine="onnxruntime")
    with pytest.raises(ValueError, match="engine torch runs fp32, fp16, bf16, not int8"):
        Tracker(model, precision="int8")
    feeds = calibration_feeds(model, [sequence], frames_per_sequence=4)
    assert len(feeds) == 4 and feeds[0]["search"].shape == (1, 3, 128, 128)
    save_graphs(model, tmp_path, [1.0], lambda graph: quantise_search_graph(graph, feeds))
    int8 = onnx.load(str(tmp_path / search_graph_file(1.0, int8=True)))
    assert any(node.op_type == "QuantizeLinear" for node in int8.graph.node)
    tracker = Tracker(model, TrackerConfig(regrounding=False), precision="int8", engine="auto", graph_dir=tmp_path)
    assert tracker.engine.name == "onnxruntime"  # the one engine that runs int8 here
    tracker.set_target(sequence.frame(0), sequence.language, tuple(sequence.ground_truth[0]))
    boxes = np.array([tracker.track(sequence.frame(i)).box_xywh_px for i in range(1, 6)])
    assert np.isfinite(boxes).all() and (boxes[:, 2:] > 0).all()
    (tmp_path / search_graph_file(1.0, int8=True)).write_bytes((tmp_path / search_graph_file(1.0)).read_bytes())
    with pytest.raises(GraphMismatch, match="a fp32 graph where a int8 one is needed"):
        create_engine("onnxruntime", model, CPU, "int8", graph_dir=tmp_path).runner(1.0)
