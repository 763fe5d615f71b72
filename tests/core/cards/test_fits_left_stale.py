"""Which fits a rewritten card keeps that were made under other preprocessing."""

from __future__ import annotations

from app.core.cards import fits_left_stale, new_card

PRE = {"color_mode": "grayscale", "target_size": [32, 32], "interpolation": "area",
       "resize_backend": "opencv", "scale": 1 / 255}


def _fitted(**pre: object) -> object:
    card = new_card(["a", "b"], {**PRE, **pre})
    card.data["calibration"] = {"temperature": 1.3, "conformal": {"method": "lac"}}
    return card


def test_only_a_change_to_the_pixels_makes_fits_stale() -> None:
    guessed = _fitted(recorded=False, source="inferred from the model")
    assert fits_left_stale(guessed, new_card(["a", "b"], {**PRE, "source": "recorded"})) == []
    assert fits_left_stale(guessed, new_card(["a", "b"], {**PRE, "scale": 1.0})) == [
        "temperature", "prediction sets"]
    assert fits_left_stale(None, new_card(["a", "b"], PRE)) == []


def test_the_placeholder_check_is_not_a_fit_but_a_fitted_one_is() -> None:
    card = _fitted()
    card.data["ood"] = {"score": "msp", "threshold": 0.0, "label": "None of the classes"}
    assert "'none of the classes' check" not in fits_left_stale(card, new_card(["a", "b"], {**PRE, "scale": 1.0}))
    card.data["ood"] = {"score": "energy", "threshold": 4.9, "label": "No digit"}
    assert fits_left_stale(card, new_card(["a", "b"], {**PRE, "scale": 1.0}))[-1] == (
        "'none of the classes' check")
