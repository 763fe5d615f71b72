"""The current result and the history: result view, probability plot, history table and export,
and the folder-run report (accuracy and confusion matrix)."""
