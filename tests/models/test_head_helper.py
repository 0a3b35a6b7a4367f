"""ResNetBasicHead: logits in train and eval, adaptive masked pooling, PySlowFast names."""

import pytest
import torch

from slowfast_atfr.models import varlen
from slowfast_atfr.models.head_helper import ResNetBasicHead


def test_names_and_logits_in_both_modes():
    torch.manual_seed(0)
    head = ResNetBasicHead(dim_in=[4, 2], pathways=[0, 1], num_classes=3, dropout_rate=0.5)
    assert set(head.state_dict()) == {"projection.weight", "projection.bias"}
    assert hasattr(head, "pathway0_avgpool") and hasattr(head, "pathway1_avgpool")
    xs = [torch.randn(2, 4, 3, 5, 5), torch.randn(2, 2, 12, 7, 7)]
    head.eval()
    logits = head(xs)
    pooled = torch.cat([x.mean(dim=(2, 3, 4)) for x in xs], dim=1)
    assert torch.allclose(logits, head.projection(pooled), atol=1e-6)  # logits, no softmax
    assert head.train()(xs).shape == (2, 3)


def test_pooling_averages_each_pathways_valid_frames():
    torch.manual_seed(0)
    head = ResNetBasicHead(dim_in=[3, 3], pathways=[0, 1], num_classes=2).eval()
    varlen.install_hooks(head)
    lengths = torch.tensor([[2, 4], [1, 3]])
    xs = [varlen.zero_padding(torch.randn(2, 3, 2, 2, 2), lengths[:, 0]),
          varlen.zero_padding(torch.randn(2, 3, 4, 2, 2), lengths[:, 1])]
    with varlen.lengths_context(xs, lengths):
        logits = head(xs)
    for i in range(2):
        lone = head([x[i:i + 1, :, :n] for x, n in zip(xs, lengths[i].tolist())])
        assert torch.allclose(logits[i:i + 1], lone, atol=1e-6)


def test_pools_are_named_after_the_pathways_given():
    head = ResNetBasicHead(dim_in=[4], pathways=[1], num_classes=2)
    assert hasattr(head, "pathway1_avgpool") and not hasattr(head, "pathway0_avgpool")
    with pytest.raises(ValueError, match="one pathway index per input"):
        ResNetBasicHead(dim_in=[4, 2], pathways=[0], num_classes=2)
