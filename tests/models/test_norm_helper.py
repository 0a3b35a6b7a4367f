"""get_norm and the sub-batch / sync variants (multigrid), with and without padding."""

import pytest
import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.norm_helper import SubBatchNorm3d, SyncBatchNorm3d, get_norm
from slowfast_atfr.models.varlen import VarLenBatchNorm3d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_get_norm_resolves_every_type():
    assert get_norm("batchnorm") is VarLenBatchNorm3d
    sub = get_norm("sub_batchnorm", num_splits=2)(num_features=3)
    assert isinstance(sub, SubBatchNorm3d) and sub.num_splits == 2
    assert isinstance(get_norm("sync_batchnorm")(num_features=3), SyncBatchNorm3d)
    with pytest.raises(ValueError, match="BN.NORM_TYPE='groupnorm'"):
        get_norm("groupnorm")


def test_sub_batchnorm_has_pyslowfast_names():
    keys = set(SubBatchNorm3d(num_splits=2, num_features=3).state_dict())
    bn = {"running_mean", "running_var", "num_batches_tracked"}
    assert keys == {"weight", "bias"} | {f"bn.{k}" for k in bn} | {f"split_bn.{k}" for k in bn}


def test_sub_batchnorm_train_matches_pyslowfast_split_view():
    """Upstream normalises x.view(N / S, C * S, T, H, W): sample i is in split i % S."""
    sub = SubBatchNorm3d(num_splits=2, num_features=3)
    nn.init.uniform_(sub.weight)
    nn.init.uniform_(sub.bias)
    ref = nn.BatchNorm3d(6, affine=False)
    x = torch.randn(4, 3, 5, 4, 4) * 2 + 1
    y = sub(x)
    y_ref = ref(x.view(2, 6, 5, 4, 4)).view_as(x)
    y_ref = y_ref * sub.weight.view(-1, 1, 1, 1) + sub.bias.view(-1, 1, 1, 1)
    assert torch.allclose(y, y_ref, atol=1e-5)
    assert torch.allclose(sub.split_bn.running_mean, ref.running_mean, atol=1e-6)
    assert torch.allclose(sub.split_bn.running_var, ref.running_var, atol=1e-6)


def test_sub_batchnorm_statistics_ignore_padding():
    sub = SubBatchNorm3d(num_splits=2, num_features=3)
    lengths = torch.tensor([2, 5, 4, 1])
    x = torch.randn(4, 3, 5, 4, 4) + 3.0  # padding = 3: must not count
    with varlen.lengths_context([x], lengths[:, None]):
        y = sub(x)
    assert torch.equal(y, varlen.zero_padding(y, lengths))
    for split in range(2):
        idx = [i for i in range(4) if i % 2 == split]
        valid = torch.cat([x[i, :, :lengths[i]] for i in idx], dim=1)  # [C, sum T, H, W]
        ref = nn.BatchNorm3d(3, affine=False)
        ref(valid.unsqueeze(0))
        got = sub.split_bn.running_mean.view(2, 3)[split]
        assert torch.allclose(got, ref.running_mean, atol=1e-5)
        assert torch.allclose(sub.split_bn.running_var.view(2, 3)[split], ref.running_var,
                              atol=1e-5)


def test_sub_batchnorm_aggregates_split_statistics_for_eval():
    sub = SubBatchNorm3d(num_splits=2, num_features=1)
    sub.split_bn.running_mean.copy_(torch.tensor([1.0, 3.0]))
    sub.split_bn.running_var.copy_(torch.tensor([1.0, 1.0]))
    sub.aggregate_stats()
    assert sub.bn.running_mean.item() == pytest.approx(2.0)
    assert sub.bn.running_var.item() == pytest.approx(2.0)  # within 1 + between 1
    sub.eval()
    x = torch.full((1, 1, 2, 1, 1), 2.0)
    assert torch.allclose(sub(x), torch.zeros_like(x), atol=1e-6)
    with pytest.raises(ValueError, match="NUM_SPLITS=2"):
        sub.train()(torch.randn(3, 1, 2, 1, 1))


def test_sync_batchnorm_without_process_group_is_varlen_batchnorm():
    sync, ref = SyncBatchNorm3d(num_features=3), VarLenBatchNorm3d(3)
    assert set(sync.state_dict()) == set(nn.BatchNorm3d(3).state_dict())
    x = torch.randn(2, 3, 4, 2, 2)
    lengths = torch.tensor([[4], [2]])
    with varlen.lengths_context([x], lengths):
        assert torch.allclose(sync(x), ref(x))
    assert torch.allclose(sync.running_var, ref.running_var)



def _sync_worker(rank, world, port, x, lengths, cotangent, folder):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    torch.set_num_threads(1)
    try:
        bn = SyncBatchNorm3d(num_features=3)
        part = slice(2 * rank, 2 * rank + 2)
        local = x[part].clone().requires_grad_()
        with varlen.lengths_context([local], lengths[part, None]):
            y = bn(local)
        y.backward(cotangent[part])
        # The same batch packed (training's layout) gives the same output and gradient.
        packed_bn = SyncBatchNorm3d(num_features=3)
        layout = varlen.ClipLayout.packing(lengths[part])
        packed_in = varlen.pack(x[part], layout).requires_grad_()
        with varlen.layouts_context([layout]):
            packed = packed_bn(packed_in)
        packed.backward(varlen.pack(cotangent[part], layout))
        torch.save({"y": y.detach(), "mean": bn.running_mean, "var": bn.running_var,
                    "grad": local.grad, "weight_grad": bn.weight.grad,
                    "packed": packed.detach(), "packed_grad": packed_in.grad,
                    "packed_var": packed_bn.running_var, "layout_lengths": lengths[part]},
                   f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_sync_batchnorm_reduces_masked_statistics_over_processes(tmp_path):
    import torch.multiprocessing as mp
    from ports import free_port

    port = free_port()
    x = torch.randn(4, 3, 5, 2, 2) + 1.0
    lengths = torch.tensor([5, 2, 1, 4])
    cotangent = varlen.zero_padding(torch.randn(4, 3, 5, 2, 2), lengths)
    mp.spawn(_sync_worker, args=(2, port, x, lengths, cotangent, str(tmp_path)), nprocs=2)
    out = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    ref = VarLenBatchNorm3d(3)
    whole = x.clone().requires_grad_()
    with varlen.lengths_context([whole], lengths[:, None]):
        y_ref = ref(whole)
    y_ref.backward(cotangent)
    assert torch.allclose(torch.cat([out[0]["y"], out[1]["y"]]), y_ref, atol=1e-5)
    # The statistics' gradients are summed over the processes too: each rank's input
    # gradient is its part of the whole batch's, and the affine gradients add up to it.
    torch.testing.assert_close(torch.cat([out[0]["grad"], out[1]["grad"]]), whole.grad,
                               atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out[0]["weight_grad"] + out[1]["weight_grad"], ref.weight.grad,
                               atol=1e-5, rtol=1e-4)
    for rank in range(2):
        assert torch.allclose(out[rank]["mean"], ref.running_mean, atol=1e-6)
        assert torch.allclose(out[rank]["var"], ref.running_var, atol=1e-5)
        layout = varlen.ClipLayout.packing(out[rank]["layout_lengths"])
        torch.testing.assert_close(out[rank]["packed"], varlen.pack(out[rank]["y"], layout))
        torch.testing.assert_close(out[rank]["packed_grad"],
                                   varlen.pack(out[rank]["grad"], layout))
        torch.testing.assert_close(out[rank]["packed_var"], ref.running_var, atol=1e-5,
                                   rtol=1e-5)
