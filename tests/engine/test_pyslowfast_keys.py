"""PySlowFast keys that act here as there: loss explosion, frozen BN, linear probe, eval
probabilities, multi-view sweeps, checkpoint name patterns."""

import os
import pickle
import sys

import pytest
import torch
from engine_tiny import tiny_cfg
from subprocess_runs import json_stats

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.engine.trainer import Trainer
from slowfast_atfr.models import build_model

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "models"))
from tiny_models import tiny_cfg as tiny_model_cfg  # noqa: E402


def test_loss_explosion_stops_training_naming_the_factor(tmp_path):
    # 8 iterations per epoch: the 6th is compared with the mean of the 5 before it.
    cfg = tiny_cfg(tmp_path, **{"TRAIN.BATCH_SIZE": 2, "TRAIN.KILL_LOSS_EXPLOSION_FACTOR": 0.01})
    with pytest.raises(RuntimeError, match=r"loss exploded at epoch 1, iteration 6: .* > "
                                           r"TRAIN.KILL_LOSS_EXPLOSION_FACTOR=0.01 x"):
        Trainer(cfg).train()
    cfg = tiny_cfg(tmp_path / "calm", **{"TRAIN.BATCH_SIZE": 2, "SOLVER.MAX_EPOCH": 1,
                                         "TRAIN.KILL_LOSS_EXPLOSION_FACTOR": 100.0})
    Trainer(cfg).train()  # a factor the loss never reaches does not stop it


def test_frozen_bn_keeps_statistics_and_trains_the_affine_weights(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"MODEL.FROZEN_BN": True, "SOLVER.MAX_EPOCH": 1})
    trainer = Trainer(cfg)
    trainer.train()
    bn = trainer.model.s1[1]
    assert not bn.training and trainer.model.training
    torch.testing.assert_close(bn.running_mean, torch.zeros_like(bn.running_mean))
    torch.testing.assert_close(bn.running_var, torch.ones_like(bn.running_var))
    assert not torch.equal(bn.weight, torch.ones_like(bn.weight))
    with pytest.raises(ValueError, match="BN.USE_PRECISE_STATS False"):
        tiny_cfg(tmp_path, **{"MODEL.FROZEN_BN": True, "BN.USE_PRECISE_STATS": True})


def _tiny_resnet(**keys):
    cfg = tiny_model_cfg("ResNet", "resnet3d18", atfr=True)
    for key, value in keys.items():
        group, leaf = key.split(".")
        cfg[group][leaf] = value
    torch.manual_seed(0)
    return cfg, build_model(assert_and_infer_cfg(cfg))


def test_detach_final_fc_trains_only_the_projection():
    _, model = _tiny_resnet(**{"MODEL.DETACH_FINAL_FC": True})
    model.train()
    model([torch.randn(2, 3, 8, 32, 32)]).square().sum().backward()
    learning = sorted(n for n, p in model.named_parameters() if p.grad is not None)
    assert learning == ["head.projection.bias", "head.projection.weight"]


def test_eval_output_probabilities_as_pyslowfast_and_logits_in_training():
    _, logits_model = _tiny_resnet()
    _, probs_model = _tiny_resnet(**{"MODEL.EVAL_OUTPUT": "probabilities"})
    x = [torch.randn(2, 3, 8, 32, 32)]
    for model in (logits_model, probs_model):
        model.eval()
    probs = probs_model(x)
    torch.testing.assert_close(probs, torch.softmax(logits_model(x), dim=1))
    torch.testing.assert_close(probs.sum(1), torch.ones(2))
    probs_model.train()
    logits_model.train()
    torch.manual_seed(1)
    a = probs_model(x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, logits_model(x))


def test_eval_output_gives_the_same_test_results_either_way(tmp_path):
    results = []
    for output in ("logits", "probabilities"):
        cfg = tiny_cfg(tmp_path / output, **{"MODEL.EVAL_OUTPUT": output,
                                             "TEST.SAVE_RESULTS_PATH": "preds.pkl"})
        stats = run_test(cfg)
        with open(tmp_path / output / "preds.pkl", "rb") as f:
            results.append((stats["top1_acc"], pickle.load(f)[0]))
    assert results[0][0] == results[1][0]
    assert torch.allclose(torch.from_numpy(results[0][1]), torch.from_numpy(results[1][1]),
                          atol=1e-6)


def test_num_temporal_clips_tests_once_per_entry(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"TEST.NUM_TEMPORAL_CLIPS": [1, 2],
                                "TEST.SAVE_RESULTS_PATH": "preds.pkl"})
    run_test(cfg)
    finals = json_stats(tmp_path, "test_final")
    assert [r["num_temporal_clips"] for r in finals] == [1, 2]
    assert [r["clips_seen"] for r in finals] == [8, 16]
    assert (tmp_path / "preds_1clips.pkl").is_file() and (tmp_path / "preds_2clips.pkl").is_file()


def test_ensemble_views_minus_one_is_pyslowfasts_sweep():
    cfg = get_cfg()
    cfg.TEST.NUM_ENSEMBLE_VIEWS = -1
    cfg = assert_and_infer_cfg(cfg)
    assert list(cfg.TEST.NUM_TEMPORAL_CLIPS) == [1, 3, 5, 7, 10]
    assert cfg.TEST.NUM_ENSEMBLE_VIEWS == 10
    cfg = get_cfg()
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_TEMPORAL_CLIPS = -1, [2]
    with pytest.raises(ValueError, match="set only one"):
        assert_and_infer_cfg(cfg)
    cfg.TEST.NUM_ENSEMBLE_VIEWS = -2
    with pytest.raises(ValueError, match=r"TEST.NUM_ENSEMBLE_VIEWS=-2 must be an int >= 1 or -1"):
        assert_and_infer_cfg(cfg)


def test_checkpoint_clear_name_pattern_strips_a_wrapper_prefix(tmp_path):
    cfg, model = _tiny_resnet()
    state = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    path = str(tmp_path / "wrapped.pyth")
    torch.save({"epoch": 3, "model_state": state}, path)
    _, fresh = _tiny_resnet()
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(1.0)
    with pytest.raises(ValueError, match="backbone"):
        cu.load_checkpoint(path, fresh)
    cu.load_checkpoint(path, fresh, clear_patterns=["backbone."])
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value, msg=key)
