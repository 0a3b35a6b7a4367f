"""Video models; importing this package registers every family and sampler."""

from slowfast_atfr.models.build import MODEL_REGISTRY, build_model  # noqa: F401
