"""Small shared widgets and helpers: drop area, message banner, plot style, QImage conversion."""
