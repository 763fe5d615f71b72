"""Dialogs the window opens that are more than a question: recording a card-less model\x27s preprocessing."""
