"""Non-local block: PySlowFast names, and padded keys that get no attention."""

import pytest
import torch

from slowfast_atfr.models import varlen
from slowfast_atfr.models.nonlocal_helper import Nonlocal
from slowfast_atfr.models.varlen import VarLenBatchNorm3d


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _block(instantiation, pool=(1, 2, 2)):
    nln = Nonlocal(dim=4, dim_inner=2, pool_size=pool, instantiation=instantiation,
                   norm_module=VarLenBatchNorm3d)
    varlen.install_hooks(nln)
    torch.nn.init.uniform_(nln.bn.weight, 0.5, 1.5)
    return nln.eval()


def test_pyslowfast_names():
    keys = set(_block("softmax").state_dict())
    convs = {f"{c}.{p}" for c in ("conv_theta", "conv_phi", "conv_g", "conv_out")
             for p in ("weight", "bias")}
    bn = {f"bn.{k}" for k in ("weight", "bias", "running_mean", "running_var",
                              "num_batches_tracked")}
    assert keys == convs | bn


@pytest.mark.parametrize("instantiation", ["softmax", "dot_product"])
@pytest.mark.parametrize("pool", [(1, 2, 2), (2, 2, 2)])
def test_padded_clips_attend_to_their_own_frames_only(instantiation, pool):
    nln = _block(instantiation, pool)
    lengths = torch.tensor([2, 6, 4])
    x = varlen.zero_padding(torch.randn(3, 4, 6, 4, 4), lengths)
    with torch.no_grad():
        with varlen.lengths_context([x], lengths[:, None]):
            batched = nln(x)
        for i, n in enumerate(lengths.tolist()):
            lone = nln(x[i:i + 1, :, :n])
            assert torch.allclose(batched[i:i + 1, :, :n], lone, atol=1e-5)
            assert not batched[i, :, n:].any()


def test_rejects_unknown_instantiation():
    with pytest.raises(ValueError, match="NONLOCAL.INSTANTIATION"):
        Nonlocal(dim=4, dim_inner=2, instantiation="gaussian")
