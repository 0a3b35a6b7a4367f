"""A PySlowFast-named toy model, its config and training steps, for the checkpoint tests."""

import torch
from torch import nn

from slowfast_atfr.config.defaults import get_cfg


class Tiny(nn.Module):
    """PySlowFast-named toy model; `atfr=True` adds parameters under `sampler.` only."""

    def __init__(self, atfr: bool = False, num_classes: int = 5, stem_t: int = 1) -> None:
        super().__init__()
        self.s1 = nn.Module()
        self.s1.pathway0_stem = nn.Module()
        self.s1.pathway0_stem.conv = nn.Conv3d(3, 4, (stem_t, 3, 3), padding=(0, 1, 1))
        self.s1.pathway0_stem.bn = nn.BatchNorm3d(4)
        self.head = nn.Module()
        self.head.projection = nn.Linear(4, num_classes)
        self.sampler = nn.ModuleList([nn.Conv3d(4, 2, 1)] if atfr else [])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.s1.pathway0_stem.bn(self.s1.pathway0_stem.conv(x))
        for sampler in self.sampler:
            y = y * torch.sigmoid(sampler(y)).mean(1, keepdim=True)
        return self.head.projection(y.mean((2, 3, 4)))


def job_cfg(tmp_path, **train):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "job")
    cfg.MODEL_ZOO_CACHE_DIR = str(tmp_path / "cache")
    for key, value in train.items():
        setattr(cfg.TRAIN, key, value)
    return cfg


def train_step(model, optimizer, seed=0):
    torch.manual_seed(seed)
    x, y = torch.randn(2, 3, 2, 8, 8), torch.tensor([0, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
