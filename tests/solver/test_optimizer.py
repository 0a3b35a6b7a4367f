"""Optimizer: norm parameters get BN.WEIGHT_DECAY, the rest SOLVER.WEIGHT_DECAY; losses."""

import pytest
import torch
import torch.nn as nn

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models.losses import get_loss_func, soft_cross_entropy
from slowfast_atfr.solver.optimizer import construct_optimizer, set_lr


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


def _names_of(model, groups):
    names = {id(p): n for n, p in model.named_parameters()}
    return [[names[id(p)] for p in g["params"]] for g in groups]


def test_groups_follow_pyslowfast_order_and_zero_wd_1d_param():
    # PySlowFast's order: BatchNorm parameters, the others, then (ZERO_WD_1D_PARAM) the
    # 1-D parameters and biases of the others without decay.
    cfg = get_cfg()
    cfg.SOLVER.WEIGHT_DECAY, cfg.BN.WEIGHT_DECAY = 1e-4, 1e-5
    net = model()
    groups = construct_optimizer(net, cfg).param_groups
    assert _names_of(net, groups) == [["1.weight", "1.bias"],
                                      ["0.weight", "0.bias", "3.weight", "3.bias"]]
    assert [g["weight_decay"] for g in groups] == [1e-5, 1e-4]
    assert all(g["layer_decay"] == 1.0 and g["apply_LARS"] is False for g in groups)
    cfg.SOLVER.ZERO_WD_1D_PARAM = True
    groups = construct_optimizer(net, cfg).param_groups
    assert _names_of(net, groups) == [["1.weight", "1.bias"], ["0.weight", "3.weight"],
                                      ["0.bias", "3.bias"]]
    assert [g["weight_decay"] for g in groups] == [1e-5, 1e-4, 0.0]


def test_adam_betas_come_from_the_config():
    cfg = get_cfg()
    cfg.SOLVER.OPTIMIZING_METHOD, cfg.SOLVER.BETAS = "adamw", (0.8, 0.95)
    assert construct_optimizer(model(), cfg).defaults["betas"] == (0.8, 0.95)


def _trained(cfg, steps=2):
    torch.manual_seed(0)
    net = model()
    opt = construct_optimizer(net, cfg)
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(2, 3, 1, 1, 1)).square().sum().backward()
        opt.step()
    return net, opt


def test_optimizer_state_round_trips_through_pyslowfasts_group_layout():
    # A state laid out by PySlowFast's rule (groups of parameter names, written out here
    # from its rule, not from our code) loads into ours with every momentum buffer on the
    # parameter of the same name, and ours loads into that layout.
    from slowfast_atfr.checkpoint.load import load_optimizer_state

    cfg = get_cfg()
    cfg.SOLVER.ZERO_WD_1D_PARAM = True
    upstream_groups = [["1.weight", "1.bias"], ["0.weight", "3.weight"], ["0.bias", "3.bias"]]
    theirs_net = model()
    params = dict(theirs_net.named_parameters())
    theirs = torch.optim.SGD([{"params": [params[n] for n in g], "weight_decay": wd,
                               "layer_decay": 1.0, "apply_LARS": False}
                              for g, wd in zip(upstream_groups, (0.0, 1e-4, 0.0))],
                             lr=0.1, momentum=0.9, nesterov=True)
    torch.manual_seed(0)
    for _ in range(2):
        theirs.zero_grad()
        theirs_net(torch.randn(2, 3, 1, 1, 1)).square().sum().backward()
        theirs.step()
    net, ours = _trained(cfg, steps=0)
    load_optimizer_state(ours, theirs.state_dict(), "theirs.pyth")
    for name, param in net.named_parameters():
        torch.testing.assert_close(ours.state[param]["momentum_buffer"],
                                   theirs.state[params[name]]["momentum_buffer"])
    _, ours = _trained(cfg)
    theirs.load_state_dict(ours.state_dict())  # what PySlowFast's load_checkpoint does
    assert [len(g["params"]) for g in theirs.param_groups] == [2, 2, 2]


def test_optimizer_state_of_the_earlier_order_loads_with_a_warning_and_others_are_refused(
        caplog):
    from slowfast_atfr.checkpoint.load import load_optimizer_state

    cfg = get_cfg()
    net, opt = _trained(cfg)
    saved = opt.state_dict()
    earlier = {**saved, "param_groups": saved["param_groups"][::-1]}  # [others, norms]
    fresh_net, fresh = _trained(cfg, steps=0)
    with caplog.at_level("WARNING", logger="slowfast_atfr"):
        load_optimizer_state(fresh, earlier, "old.pyth")
    assert "saved in another order" in caplog.text
    for (name, a), b in zip(net.named_parameters(), fresh_net.parameters()):
        torch.testing.assert_close(fresh.state[b]["momentum_buffer"],
                                   opt.state[a]["momentum_buffer"], msg=name)
    wider = nn.Sequential(nn.Conv3d(3, 5, 1), nn.BatchNorm3d(5), nn.Flatten(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="old.pyth: its optimizer state does not fit"):
        load_optimizer_state(construct_optimizer(wider, cfg), saved, "old.pyth")
