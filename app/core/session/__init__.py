"""A model ready to classify, and the per-image results it gives."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".model_session": ["ModelSession"],
    ".results": ["Classification", "OODVerdict"],
    ".checks": ["NoClassCheck"],
})
