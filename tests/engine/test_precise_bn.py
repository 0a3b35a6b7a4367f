"""Precise BN statistics (BN.USE_PRECISE_STATS)."""

import torch
import torch.nn as nn

from slowfast_atfr.engine.precise_bn import compute_precise_bn_stats
from slowfast_atfr.models.norm_helper import get_norm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 3, 1)
        self.bn = get_norm("batchnorm", num_splits=1)(num_features=3)

    def forward(self, xs):
        return self.bn(self.conv(xs[0]))


def test_precise_bn_uses_the_population_statistics():
    torch.manual_seed(0)
    net = Net()
    batches = [([torch.randn(4, 2, 2, 3, 3) * (i + 1) + i],) for i in range(4)]
    compute_precise_bn_stats(net, batches, 4, torch.device("cpu"))
    with torch.no_grad():
        feats = torch.cat([net.conv(b[0][0]) for b in batches])
    torch.testing.assert_close(net.bn.running_mean, feats.mean(dim=(0, 2, 3, 4)))
