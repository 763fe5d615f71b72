"""The bundled digit model: synthetic data generators, training and evaluation."""
