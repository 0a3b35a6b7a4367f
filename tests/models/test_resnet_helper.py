"""ResStage / ResBlock / transforms: the contract in resnet_helper's docstring."""

import pytest
import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.resnet_helper import (
    TRANSFORM_REGISTRY,
    ResStage,
    get_trans_func,
    split_stride,
)
from slowfast_atfr.models.varlen import VarLenBatchNorm3d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _stage(**overrides):
    kwargs = dict(dim_in=[4], dim_out=[8], dim_inner=[2], temp_kernel_sizes=[[3, 1]],
                  stride=[2], num_blocks=[3], num_groups=[1], num_block_temp_kernel=[3],
                  nonlocal_inds=[[]], nonlocal_group=[1], nonlocal_pool=[[1, 2, 2]],
                  dilation=[1], norm_module=VarLenBatchNorm3d)
    kwargs.update(overrides)
    return ResStage(**kwargs)


def test_registered_transforms():
    names = {name for name, _ in TRANSFORM_REGISTRY}
    assert {"bottleneck_transform", "basic_transform"} <= names
    with pytest.raises(ValueError, match="RESNET.TRANS_FUNC='nope'"):
        get_trans_func("nope")


def test_stage_names_kernels_and_shapes():
    stage = _stage(num_block_temp_kernel=[2])
    sd = stage.state_dict()
    assert "pathway0_res0.branch1.weight" in sd and "pathway0_res1.branch1.weight" not in sd
    # Kernel basis [3, 1] repeats over the first 2 blocks, the rest get 1.
    kernels = [getattr(stage, f"pathway0_res{i}").branch2.a.kernel_size[0] for i in range(3)]
    assert kernels == [3, 1, 1]
    out = stage([torch.randn(2, 4, 5, 8, 8)])
    assert len(out) == 1 and out[0].shape == (2, 8, 5, 4, 4)


def test_basic_transform_has_two_convs():
    stage = _stage(trans_func_name="basic_transform")
    branch = stage.pathway0_res0.branch2
    assert {n for n, _ in branch.named_children()} == {"a", "a_bn", "a_relu", "b", "b_bn"}
    assert branch.a.kernel_size == (3, 3, 3) and branch.b.kernel_size == (1, 3, 3)


def test_temporal_stride_pair_strides_both_branches():
    assert split_stride(2) == (1, 2) and split_stride((2, 1)) == (2, 1)
    stage = _stage(stride=[(2, 2)])
    assert stage.pathway0_res0.branch1.stride == (2, 2, 2)
    assert stage.pathway0_res0.branch2.a.stride == (2, 1, 1)
    assert stage([torch.randn(1, 4, 6, 8, 8)])[0].shape == (1, 8, 3, 4, 4)


def test_stride_1x1_moves_the_spatial_stride():
    branch = _stage(stride_1x1=True).pathway0_res0.branch2
    assert branch.a.stride == (1, 2, 2) and branch.b.stride == (1, 1, 1)


def test_registering_a_transform_by_name():
    @TRANSFORM_REGISTRY.register_as("test_identity_transform")
    class Identity(nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            self.kwargs = kwargs
            self.proj = nn.Conv3d(kwargs["dim_in"], kwargs["dim_out"], 1)

        def forward(self, x):
            return self.proj(x)

    stage = _stage(stride=[1], dim_out=[4], trans_func_name="test_identity_transform")
    kwargs = stage.pathway0_res1.branch2.kwargs
    assert set(kwargs) == {"dim_in", "dim_out", "temp_kernel_size", "stride", "dim_inner",
                           "num_groups", "stride_1x1", "inplace_relu", "dilation",
                           "norm_module", "block_idx", "drop_connect_rate"}
    assert kwargs["block_idx"] == 1 and kwargs["stride"] == 1


def test_two_pathways_and_length_checks():
    stage = _stage(dim_in=[4, 2], dim_out=[8, 4], dim_inner=[2, 1],
                   temp_kernel_sizes=[[1], [3]], stride=[2, 2], num_blocks=[2, 1],
                   num_groups=[1, 1], num_block_temp_kernel=[2, 1], nonlocal_inds=[[], []],
                   nonlocal_group=[1, 1], nonlocal_pool=[[1, 2, 2], [1, 2, 2]],
                   dilation=[1, 1])
    assert hasattr(stage, "pathway1_res0") and not hasattr(stage, "pathway1_res1")
    with pytest.raises(ValueError, match="pathway tensors"):
        stage([torch.randn(1, 4, 2, 8, 8)])
    with pytest.raises(ValueError, match="one per pathway"):
        _stage(dim_out=[8, 8])
    with pytest.raises(ValueError, match="NUM_BLOCK_TEMP_KERNEL=4"):
        _stage(num_block_temp_kernel=[4])


def test_nonlocal_groups_fold_time_into_the_batch():
    stage = _stage(nonlocal_inds=[[2]], nonlocal_group=[2]).eval()
    nln = stage.pathway0_nonlocal2
    x = torch.randn(1, 4, 4, 8, 8)
    with torch.no_grad():
        y = stage([x])[0]
        pre = stage.pathway0_res2(stage.pathway0_res1(stage.pathway0_res0(x)))
        halves = torch.cat([nln(pre[:, :, :2]), nln(pre[:, :, 2:])], dim=2)
    assert torch.allclose(y, halves, atol=1e-6)
    lengths = torch.tensor([[4]])
    with pytest.raises(ValueError, match="NONLOCAL.GROUP=2"):
        with varlen.lengths_context([x], lengths):
            stage([x])


def test_drop_connect_drops_whole_residual_branches_in_training_only():
    block = _stage(drop_connect_rate=0.999).pathway0_res1
    h = torch.rand(8, 8, 2, 4, 4)  # non-negative: relu(h + 0) == h
    dropped = [torch.equal(y, x) for y, x in zip(block.train()(h), h)]
    assert sum(dropped) >= 6
    kept = [torch.equal(y, x) for y, x in zip(block.eval()(h), h)]
    assert not any(kept)
