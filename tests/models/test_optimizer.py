"""Optimizer: norm parameters get BN.WEIGHT_DECAY, the rest SOLVER.WEIGHT_DECAY; losses."""

import pytest
import torch
import torch.nn as nn

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models.losses import get_loss_func, soft_cross_entropy
from slowfast_atfr.models.optimizer import construct_optimizer, set_lr


def model():
    return nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Flatten(), nn.Linear(4, 2))


@pytest.mark.parametrize("method", ["sgd", "adam", "adamw"])
def test_param_groups_split_norm_weight_decay(method):
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZING_METHOD = method
    cfg.SOLVER.WEIGHT_DECAY, cfg.BN.WEIGHT_DECAY = 1e-4, 0.0
    net = model()
    opt = construct_optimizer(net, cfg)
    decay = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    assert decay[0.0] == {id(net[1].weight), id(net[1].bias)}
    assert decay[1e-4] == {id(p) for p in net.parameters()} - decay[0.0]
    if method == "sgd":
        assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    set_lr(opt, 0.5)
    assert all(g["lr"] == 0.5 for g in opt.param_groups)


@pytest.mark.parametrize("method,cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_fused_kernel_where_this_torch_has_one_with_the_same_update(method, cls):
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZING_METHOD, cfg.SOLVER.BASE_LR = method, 0.1
    try:
        cls([nn.Parameter(torch.zeros(1))], lr=0.1, fused=True)
        expected = True
    except (RuntimeError, TypeError, ValueError):
        expected = False
    torch.manual_seed(0)
    # No bias before the BatchNorm: its gradient would be rounding noise, which Adam's
    # normalised step turns into +-lr, so tiny differences would not stay tiny.
    nets = [nn.Sequential(nn.Conv3d(3, 4, 1, bias=False), nn.BatchNorm3d(4), nn.Flatten(),
                          nn.Linear(4, 2)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    ours = construct_optimizer(nets[0], cfg)
    assert bool(ours.defaults.get("fused")) == expected
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]}
              for g in construct_optimizer(nets[1], cfg).param_groups]
    extra = {"momentum": 0.9, "nesterov": True} if method == "sgd" else {}
    plain = cls(groups, lr=0.1, **extra)
    x = torch.randn(2, 3, 1, 1, 1)
    for net, opt in zip(nets, (ours, plain)):
        for _ in range(3):
            opt.zero_grad()
            net(x).square().sum().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b)


def test_unknown_optimizer_and_loss_name_the_key():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZING_METHOD = "lamb"
    with pytest.raises(ValueError, match="SOLVER.OPTIMIZING_METHOD='lamb'"):
        construct_optimizer(model(), cfg)
    with pytest.raises(ValueError, match="MODEL.LOSS_FUNC='focal'"):
        get_loss_func("focal")


def test_soft_cross_entropy_matches_hard_labels():
    torch.manual_seed(0)
    logits, labels = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    hard = get_loss_func("cross_entropy")(logits, labels)
    onehot = nn.functional.one_hot(labels, 3).float()
    torch.testing.assert_close(soft_cross_entropy(logits, onehot), hard)
    torch.testing.assert_close(soft_cross_entropy(logits, labels), hard)
