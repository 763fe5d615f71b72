"""Second opinions for the "none of the classes" check that come from probscope's own models."""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".digit_prior": ["DIGIT_PRIOR_SLOT", "digit_prior_applies", "digit_prior_head",
                     "extra_heads_for", "prior_fingerprint", "recorded_name", "slot_name"],
})
