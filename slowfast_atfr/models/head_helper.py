"""Classification heads; they return logits (softmax belongs to the test loop)."""

from typing import List, Sequence

import torch
import torch.nn as nn

from slowfast_atfr.models import varlen


class MaskedAvgPool3d(nn.Module):
    """Global average over the valid (T, H, W) positions: [N, C, T, H, W] -> [N, C, 1, 1, 1].

    Adaptive: accepts any T, H, W (multigrid short cycles, full-resolution test crops).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return varlen.masked_mean(x)


class ResNetBasicHead(nn.Module):
    """Per-pathway global average pool, concatenation, dropout, linear `projection`.

    PySlowFast's names: `pathway{p}_avgpool`, `dropout`, `projection`. Input i is pathway
    `pathways[i]`: its pool is named after that pathway, whose valid frames it averages.
    """

    def __init__(self, *, dim_in: List[int], pathways: Sequence[int], num_classes: int,
                 dropout_rate: float = 0.0):
        super().__init__()
        if len(pathways) != len(dim_in):
            raise ValueError(f"ResNetBasicHead needs one pathway index per input; got "
                             f"pathways={list(pathways)} for dim_in={list(dim_in)}.")
        self.pathways = list(pathways)
        for p in self.pathways:
            self.add_module(f"pathway{p}_avgpool", MaskedAvgPool3d())
        if dropout_rate > 0.0:
            self.dropout = nn.Dropout(dropout_rate)
        self.projection = nn.Linear(sum(dim_in), num_classes, bias=True)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """list of [N, C_p, T, H, W] -> logits [N, num_classes]."""
        if len(inputs) != len(self.pathways):
            raise ValueError(f"ResNetBasicHead expects {len(self.pathways)} pathway tensors; "
                             f"got {len(inputs)}.")
        pooled = [getattr(self, f"pathway{p}_avgpool")(x) for p, x in zip(self.pathways, inputs)]
        x = torch.cat(pooled, dim=1).flatten(1)
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        return self.projection(x)
