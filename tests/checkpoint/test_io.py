"""Saving, finding and loading `.pyth` checkpoints."""

import os

import pytest
import torch
from tiny_job import Tiny, job_cfg, same_state, sgd, train_step
from torch import nn

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = job_cfg(tmp_path)
    model = Tiny()
    optimizer = sgd(model)
    train_step(model, optimizer)
    scaler = torch.amp.GradScaler("cpu", init_scale=128.0)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, model, optimizer, 4, cfg, scaler=scaler)
    assert path == os.path.join(cfg.OUTPUT_DIR, "checkpoints", "checkpoint_epoch_00005.pyth")

    saved = torch.load(path, map_location="cpu", weights_only=True)
    assert {"epoch", "model_state", "optimizer_state", "cfg", "scaler_state"} <= set(saved)
    assert saved["epoch"] == 4 and "iteration" not in saved
    assert get_cfg().load_cfg(saved["cfg"]).OUTPUT_DIR == cfg.OUTPUT_DIR

    torch.manual_seed(1)
    other = Tiny()
    other_opt = sgd(other)
    other_scaler = torch.amp.GradScaler("cpu")
    info = cu.load_checkpoint(path, other, other_opt, other_scaler)
    assert info == {"epoch": 4, "iteration": 0}
    assert same_state(model, other)
    assert other_scaler.get_scale() == 128.0
    # Same optimizer state: one more identical step keeps the models identical.
    train_step(model, optimizer, seed=5)
    train_step(other, other_opt, seed=5)
    assert same_state(model, other)


def test_epoch_reset_skips_epoch_and_optimizer(tmp_path):
    cfg = job_cfg(tmp_path)
    model = Tiny()
    optimizer = sgd(model)
    train_step(model, optimizer)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, model, optimizer, 9, cfg)
    fresh = Tiny()
    fresh_opt = sgd(fresh)
    info = cu.load_checkpoint(path, fresh, fresh_opt, epoch_reset=True)
    assert info == {"epoch": -1, "iteration": 0}
    assert same_state(model, fresh)
    assert fresh_opt.state_dict()["state"] == {}


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    cfg = job_cfg(tmp_path)
    model = Tiny()
    good = cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 0, cfg)
    good_bytes = open(good, "rb").read()
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(10)
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 1, cfg)
    with pytest.raises(OSError, match="disk full"):
        cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 0, cfg)  # overwrite attempt
    folder = cu.get_checkpoint_dir(cfg.OUTPUT_DIR)
    assert os.listdir(folder) == ["checkpoint_epoch_00001.pyth"]
    assert open(good, "rb").read() == good_bytes
    assert cu.get_last_checkpoint(cfg.OUTPUT_DIR) == good


def test_last_checkpoint_ordering_with_mid_epoch(tmp_path):
    cfg = job_cfg(tmp_path)
    model = Tiny()
    assert cu.get_last_checkpoint(cfg.OUTPUT_DIR) is None
    assert not cu.has_checkpoint(cfg.OUTPUT_DIR)
    saves = [(0, None), (1, 50), (1, 200), (1, None), (9, None), (10, 3)]
    expected = [
        "checkpoint_epoch_00001.pyth",
        "checkpoint_epoch_00001_iter_00000050.pyth",
        "checkpoint_epoch_00001_iter_00000200.pyth",
        "checkpoint_epoch_00002.pyth",
        "checkpoint_epoch_00010.pyth",
        "checkpoint_epoch_00010_iter_00000003.pyth",
    ]
    for (epoch, iteration), name in zip(saves, expected):
        path = cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, epoch, cfg, iteration=iteration)
        assert os.path.basename(path) == name
        assert cu.get_last_checkpoint(cfg.OUTPUT_DIR) == path
    # Newest by (epochs done, iterations done), whatever the order of writing.
    cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 3, cfg, iteration=7)
    assert cu.get_last_checkpoint(cfg.OUTPUT_DIR).endswith(expected[-1])
    # Files that are not checkpoints are ignored.
    open(os.path.join(cu.get_checkpoint_dir(cfg.OUTPUT_DIR), "checkpoint_epoch_99999.pyth.x"), "w")
    assert cu.get_last_checkpoint(cfg.OUTPUT_DIR).endswith(expected[-1])
    assert cu.has_checkpoint(cfg.OUTPUT_DIR)
    with pytest.raises(ValueError, match="iteration"):
        cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 1, cfg, iteration=0)


def test_strict_mismatch_lists_keys(tmp_path):
    path = str(tmp_path / "other.pyth")
    state = {f"extra.layer{i}.weight": torch.zeros(1) for i in range(25)}
    state.update(Tiny(num_classes=7).state_dict())
    del state["s1.pathway0_stem.bn.bias"]
    torch.save({"epoch": 0, "model_state": state}, path)
    model = Tiny(num_classes=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as err:
        cu.load_checkpoint(path, model)
    message = str(err.value)
    assert "1 missing: ['s1.pathway0_stem.bn.bias']" in message
    assert "25 unexpected" in message and "(+5 more)" in message
    assert "head.projection.weight: checkpoint (7, 4) vs model (5, 4)" in message
    # A direct load is not TRAIN.CHECKPOINT_FILE_PATH: no advice about a key without effect.
    assert "different model or config" in message and "CHECKPOINT_PARTIAL" not in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_partial_loads_the_matching_tensors(tmp_path):
    torch.manual_seed(0)
    source = Tiny(num_classes=7)
    path = str(tmp_path / "k400.pyth")
    torch.save({"epoch": 5, "model_state": source.state_dict()}, path)
    model = Tiny(num_classes=5)
    head_before = model.head.projection.weight.clone()
    optimizer = sgd(model)
    info = cu.load_checkpoint(path, model, optimizer, partial=True)
    assert info["epoch"] == 5
    assert torch.equal(model.s1.pathway0_stem.conv.weight, source.s1.pathway0_stem.conv.weight)
    assert torch.equal(model.head.projection.weight, head_before)


def test_atfr_model_loads_a_baseline_checkpoint(tmp_path):
    torch.manual_seed(0)
    baseline = Tiny()
    optimizer = sgd(baseline)
    train_step(baseline, optimizer)
    cfg = job_cfg(tmp_path)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, baseline, optimizer, 2, cfg)
    atfr = Tiny(atfr=True)
    sampler_before = {k: v.clone() for k, v in atfr.sampler.state_dict().items()}
    atfr_opt = sgd(atfr)
    info = cu.load_checkpoint(path, atfr, atfr_opt)  # strict, no partial needed
    assert info["epoch"] == 2
    for key, value in baseline.state_dict().items():
        assert torch.equal(atfr.state_dict()[key], value), key
    for key, value in atfr.sampler.state_dict().items():
        assert torch.equal(value, sampler_before[key])
    # The optimizer of a different parameter set is not restored.
    assert atfr_opt.state_dict()["state"] == {}
    # The reverse (an ATFR checkpoint into a baseline model) is a real mismatch.
    atfr_path = cu.save_checkpoint(cfg.OUTPUT_DIR, atfr, None, 3, cfg)
    with pytest.raises(ValueError, match="unexpected.*sampler.0.weight"):
        cu.load_checkpoint(atfr_path, Tiny())


def test_missing_sampler_keys_of_an_atfr_checkpoint_are_errors(tmp_path):
    state = Tiny(atfr=True).state_dict()
    del state["sampler.0.bias"]
    path = str(tmp_path / "broken_atfr.pyth")
    torch.save({"epoch": 0, "model_state": state}, path)
    with pytest.raises(ValueError, match="sampler.0.bias"):
        cu.load_checkpoint(path, Tiny(atfr=True))


def test_bare_and_ddp_prefixed_state_dicts_load(tmp_path):
    torch.manual_seed(0)
    source = Tiny()
    bare = str(tmp_path / "bare.pth")
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, bare)
    model = Tiny()
    assert cu.load_checkpoint(bare, model) == {"epoch": -1, "iteration": 0}
    assert same_state(model, source)


def test_unsafe_pyth_is_refused(tmp_path):
    path = str(tmp_path / "evil.pyth")
    torch.save({"epoch": 0, "model_state": {}, "payload": os.getcwd}, path)
    marker_free = os.listdir(tmp_path)
    with pytest.raises(cu.UnreadableCheckpointError) as err:
        cu.load_checkpoint(path, Tiny())
    message = str(err.value)
    assert message.startswith(f"{path} is not a readable PyTorch checkpoint")
    assert "getcwd" in message and "refused for safety" in message
    assert "weights_only" not in message, "never advise loading with weights_only=False"
    assert os.listdir(tmp_path) == marker_free


def _truncated(tmp_path, legacy: bool) -> bytes:
    good = tmp_path / "good.pyth"
    torch.save({"epoch": 0, "model_state": Tiny().state_dict()}, good,
               _use_new_zipfile_serialization=not legacy)
    return good.read_bytes()[:100]


@pytest.mark.parametrize(
    "content, cause",
    [
        (b"hello world\n", "neither a zip archive nor a pickle"),
        (b"", "neither a zip archive nor a pickle"),
        ("truncated", "RuntimeError: PytorchStreamReader failed reading zip archive"),
        ("truncated legacy", "the file ends early: truncated?"),
    ],
)
def test_unreadable_pyth_names_the_file_and_the_key(tmp_path, content, cause):
    path = tmp_path / "bad.pyth"
    if isinstance(content, str):
        content = _truncated(tmp_path, legacy=content.endswith("legacy"))
    path.write_bytes(content)
    cfg = job_cfg(tmp_path, CHECKPOINT_FILE_PATH=str(path))
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(cu.UnreadableCheckpointError) as err:
        cu.load_train_checkpoint(cfg, model, sgd(model))
    assert str(err.value).startswith(
        f"{path} (TRAIN.CHECKPOINT_FILE_PATH) is not a readable PyTorch checkpoint ({cause}"
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    cfg.TEST.CHECKPOINT_FILE_PATH = str(path)
    with pytest.raises(cu.UnreadableCheckpointError, match=r"\(TEST.CHECKPOINT_FILE_PATH\)"):
        cu.load_test_checkpoint(cfg, Tiny())


def test_missing_checkpoint_file_names_the_key(tmp_path):
    cfg = job_cfg(tmp_path, CHECKPOINT_FILE_PATH=str(tmp_path / "absent.pyth"))
    with pytest.raises(FileNotFoundError, match=r"absent.pyth \(TRAIN.CHECKPOINT_FILE_PATH\)"):
        cu.load_train_checkpoint(cfg, Tiny(), sgd(Tiny()))


def test_mismatch_advice_fits_where_the_checkpoint_came_from(tmp_path):
    """TRAIN.CHECKPOINT_PARTIAL is advised only where it acts: TRAIN.CHECKPOINT_FILE_PATH."""
    cfg = job_cfg(tmp_path)
    cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(num_classes=7), None, 0, cfg)
    with pytest.raises(ValueError) as err:
        cu.load_train_state(cfg, Tiny(), sgd(Tiny()))
    assert "(auto-resume checkpoint in OUTPUT_DIR)" in str(err.value)
    assert "TRAIN.AUTO_RESUME False" in str(err.value)
    assert "CHECKPOINT_PARTIAL" not in str(err.value)

    cfg.TEST.CHECKPOINT_FILE_PATH = str(tmp_path / "test.pyth")
    torch.save({"epoch": 0, "model_state": Tiny(num_classes=7).state_dict()},
               cfg.TEST.CHECKPOINT_FILE_PATH)
    with pytest.raises(ValueError) as err:
        cu.load_test_checkpoint(cfg, Tiny())
    assert "(TEST.CHECKPOINT_FILE_PATH) does not match" in str(err.value)
    assert "different model or config" in str(err.value)
    assert "CHECKPOINT_PARTIAL" not in str(err.value)


def test_ddp_wrapped_models_and_rank_gating(tmp_path, monkeypatch):
    cfg = job_cfg(tmp_path)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        ddp = nn.parallel.DistributedDataParallel(Tiny())
        path = cu.save_checkpoint(cfg.OUTPUT_DIR, ddp, sgd(ddp), 0, cfg)
        saved = torch.load(path, weights_only=True)["model_state"]
        assert not any(k.startswith("module.") for k in saved)
        plain = Tiny()
        cu.load_checkpoint(path, plain)
        assert same_state(plain, ddp.module)
        target = nn.parallel.DistributedDataParallel(Tiny())
        cu.load_checkpoint(path, target, sgd(target))
        assert same_state(target.module, ddp.module)

        monkeypatch.setattr(torch.distributed, "get_rank", lambda *a, **k: 1)
        other = cu.save_checkpoint(cfg.OUTPUT_DIR, ddp, None, 5, cfg)
        assert not os.path.exists(other), "only rank 0 writes"
    finally:
        torch.distributed.destroy_process_group()


# Small real models: one pathway for X3D / Slow, upstream's per-pathway lists for SlowFast.
_ONE_PATHWAY = ["DATA.INPUT_CHANNEL_NUM", [3]]
_TWO_PATHWAYS = [
    "RESNET.SPATIAL_STRIDES", [[1, 1], [2, 2], [2, 2], [2, 2]],
    "RESNET.SPATIAL_DILATIONS", [[1, 1], [1, 1], [1, 1], [1, 1]],
    "NONLOCAL.LOCATION", [[[], []], [[], []], [[], []], [[], []]],
    "NONLOCAL.GROUP", [[1, 1], [1, 1], [1, 1], [1, 1]],
    "RESNET.NUM_BLOCK_TEMP_KERNEL", [[3, 3], [4, 4], [6, 6], [3, 3]],
]


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("X3D", ["MODEL.ARCH", "x3d", "RESNET.TRANS_FUNC", "x3d_transform", *_ONE_PATHWAY]),
        ("ResNet", ["MODEL.ARCH", "slow", "RESNET.WIDTH_PER_GROUP", 8, *_ONE_PATHWAY]),
        ("SlowFast", ["MODEL.ARCH", "slowfast", "RESNET.WIDTH_PER_GROUP", 8, *_TWO_PATHWAYS]),
    ],
)
def test_real_atfr_model_loads_its_baseline_checkpoint(tmp_path, name, overrides):
    """With the real families: baseline keys == ATFR keys minus `sampler.*`, strict load."""
    from slowfast_atfr.models import MODEL_REGISTRY, build_model

    if name not in MODEL_REGISTRY:
        pytest.skip(f"{name} is not registered yet")
    cfgs = []
    for enabled in (False, True):
        cfg = job_cfg(tmp_path)
        cfg.merge_from_list(["MODEL.MODEL_NAME", name, "NUM_GPUS", 0, "ATFR.ENABLED", enabled])
        cfg.merge_from_list(overrides)
        cfgs.append(assert_and_infer_cfg(cfg))
    torch.manual_seed(0)
    baseline, atfr = build_model(cfgs[0]), build_model(cfgs[1])
    extra = set(atfr.state_dict()) - set(baseline.state_dict())
    assert extra and all(k.startswith("sampler.") for k in extra)
    assert set(baseline.state_dict()) <= set(atfr.state_dict())
    path = cu.save_checkpoint(cfgs[0].OUTPUT_DIR, baseline, None, 0, cfgs[0])
    cu.load_checkpoint(path, atfr)
    for key, value in baseline.state_dict().items():
        assert torch.equal(atfr.state_dict()[key], value), key


def test_the_four_loading_steps_one_by_one(tmp_path):
    """read_checkpoint -> convert_names -> reconcile_shapes -> load_state."""
    from slowfast_atfr.checkpoint.convert import reconcile_shapes

    torch.manual_seed(0)
    source = Tiny()
    path = str(tmp_path / "ddp.pyth")
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"epoch": 3, "model_state": state, "cfg": "x: 1"}, path)
    raw = cu.read_checkpoint(path)
    assert raw["epoch"] == 3 and raw["cfg"] == "x: 1"
    named = cu.convert_names(raw, caffe2=False)
    assert set(named) == set(source.state_dict())
    target = Tiny(stem_t=3)
    shaped = reconcile_shapes(named, target.state_dict(), inflation=True)
    assert shaped["s1.pathway0_stem.conv.weight"].shape == (4, 3, 3, 3, 3)
    assert cu.load_state(target, shaped, partial=False, source=path) is True
    assert torch.equal(target.head.projection.weight, source.head.projection.weight)
    # An ATFR target loads the same state fully but reports it incomplete (fresh sampler).
    assert cu.load_state(Tiny(atfr=True), named, partial=False, source=path) is False

    not_a_checkpoint = str(tmp_path / "list.pyth")
    torch.save([1, 2], not_a_checkpoint)
    with pytest.raises(ValueError, match="no 'model_state'"):
        cu.read_checkpoint(not_a_checkpoint)
