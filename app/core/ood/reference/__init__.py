"""The built-in no-class reference: procedural images of no class, made at a model's input size.

Named kinds (plain colours, gradients, clouds, textures, shapes, blobs, photo crops, drawn
faces and, for models whose classes are single characters, other characters) are generated
deterministically from a seed. The "none of the classes" probe is fitted on the user's
labelled images against them, and the bundled model's training script draws its outlier
exposure from the same generators.
"""

from app.core.lazy_exports import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".kinds": ["FRAMINGS", "LOOKALIKES", "TRAINING_LOOKALIKES", "generate_reference",
               "glyph_kind", "kinds_for", "non_class_characters"],
    ".augment": ["jitter"],
})
