"""PySlowFast's weight initialisation, shared by the family builders."""

import torch.nn as nn

from slowfast_atfr.models.norm_helper import SubBatchNorm3d

# Norm layers whose affine parameters `init_weights` resets.
_NORMS = (nn.modules.batchnorm._BatchNorm, SubBatchNorm3d)


def init_weights(model: nn.Module, fc_init_std: float, zero_init_final_bn: bool) -> None:
    """MSRA (fan_out) convs, unit BN (zero on a block's last BN, marked `transform_final_bn`,
    when `zero_init_final_bn`), normal(0, fc_init_std) linear layers, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORMS) and getattr(m, "weight", None) is not None:
            final = getattr(m, "transform_final_bn", False) and zero_init_final_bn
            nn.init.constant_(m.weight, 0.0 if final else 1.0)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=fc_init_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
