"""The sub-batch BN <-> plain BN checkpoint layouts."""

import torch
import torch.nn as nn

from slowfast_atfr.models import bn_layout
from slowfast_atfr.models.norm_helper import get_norm


class Net(nn.Module):
    def __init__(self, norm="batchnorm", splits=1):
        super().__init__()
        self.conv = nn.Conv3d(2, 3, 1)
        self.bn = get_norm(norm, num_splits=splits)(num_features=3)

    def forward(self, xs):
        return self.bn(self.conv(xs[0]))


def test_sub_batch_bn_state_round_trips_through_the_plain_layout():
    torch.manual_seed(0)
    sub = Net("sub_batchnorm", splits=2)
    sub.train()
    for _ in range(3):
        sub([torch.randn(4, 2, 2, 3, 3)])
    view = bn_layout.plain_bn_state(sub)
    plain = Net()
    assert set(view) == set(plain.state_dict())  # same names as plain BatchNorm
    plain.load_state_dict(view)
    torch.testing.assert_close(plain.bn.running_mean, sub.bn.bn.running_mean)
    other = Net("sub_batchnorm", splits=4)
    state = bn_layout.to_model_bn_state(view, other)
    assert set(state) == set(other.state_dict())
    other.load_state_dict(state)
    torch.testing.assert_close(other.bn.split_bn.running_mean.view(4, 3),
                               view["bn.running_mean"].repeat(4, 1))
    plain.eval(), sub.eval()
    x = [torch.randn(2, 2, 2, 3, 3)]
    torch.testing.assert_close(plain(x), sub(x))
