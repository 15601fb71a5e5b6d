"""The photo evaluation: MNIST test digits photographed as people photograph them, read
through the real HTTP API, scored per condition (``python -m evaluation``)."""
