"""What one forward pass reports beside the answer: the ReLU-family layers, their statistics
and the input's shape statistics, read by the "none of the classes" probe and diagnostics."""
