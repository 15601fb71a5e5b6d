"""What both LeNet implementations agree on, importable without any framework."""

INPUT_SHAPE = (28, 28, 1)
"""Gray levels scaled to [0, 1], light digit on dark background, as in MNIST."""
NUM_CLASSES = 10
LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "conv3", "flatten", "fc1", "output")
"""The API's names for the layers, in network order."""
