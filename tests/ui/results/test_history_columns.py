"""The history table's columns fit what they hold, whenever it arrives."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.session import Classification, OODVerdict
from app.ui.history_model import COL_LABEL, HistoryModel
from app.ui.results.history_table import HistoryTable

OK = OODVerdict(score=0.9, threshold=0.5, in_distribution=True, score_name="msp")
NO = OODVerdict(score=0.1, threshold=0.5, in_distribution=False, score_name="msp")


def _result(verdict: OODVerdict) -> Classification:
    return Classification(path="x.png", label="3", index=3, probabilities=np.full(10, 0.1),
                          ood=verdict)


def _label_fits(table: HistoryTable) -> tuple[int, int]:
    text = table.model.index(0, COL_LABEL).data()
    return table.view.columnWidth(COL_LABEL), table.view.fontMetrics().horizontalAdvance(text)


@pytest.mark.parametrize("when", ["re-judged while shown", "added while hidden",
                                  "added before the table exists"])
def test_the_label_column_fits_a_no_class_row(qtbot, when):  # type: ignore[no-untyped-def]
    model = HistoryModel()
    if when == "added before the table exists":
        model.add([_result(NO)])
    table = HistoryTable(model)
    qtbot.addWidget(table)
    table.resize(1100, 300)
    if when == "added before the table exists":
        table.show()
    elif when == "re-judged while shown":
        table.show()
        keys = table.model.add([_result(OK)])
        qtbot.wait(20)
        table.model.replace_results({keys[0]: _result(NO)})
    else:
        table.model.add([_result(NO)])
        table.show()
    qtbot.wait(20)
    width, need = _label_fits(table)
    assert width >= need, f"{when}: the label column is {width} px for {need} px of text"
