"""Video models; importing this package registers every family and sampler."""

import slowfast_atfr.models.atfr.sgs  # noqa: F401  (registers the "SGS" sampler)
import slowfast_atfr.models.atfr.temporal_attention  # noqa: F401  (registers "TemporalAttention")
import slowfast_atfr.models.r2plus1d  # noqa: F401  (registers "R2plus1D")
import slowfast_atfr.models.resnet  # noqa: F401  (registers "ResNet")
import slowfast_atfr.models.slowfast  # noqa: F401  (registers "SlowFast")
import slowfast_atfr.models.x3d  # noqa: F401  (registers "X3D")
from slowfast_atfr.models.build import MODEL_REGISTRY, build_model  # noqa: F401
