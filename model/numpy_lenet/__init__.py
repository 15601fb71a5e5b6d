"""The lecture's LeNet from scratch in NumPy: no TensorFlow, so a slim deployment can serve it.

Layout is Keras's, so one weight file serves both backends: images and feature maps are
``(N, H, W, C)`` (channels last), conv kernels ``(kh, kw, C_in, C_out)``, dense kernels
``(n_inputs, n_neurons)``, biases ``(n_out,)``; float32 unless a network is built otherwise.

Serving::

    net = load_lenet("artifacts/lenet/1/weights.npz")  # or lenet(seed=0), untrained
    probs = net.predict(x)        # x (N, 28, 28, 1) in [0, 1] -> (N, 10); thread-safe
    acts = net.activations(x)     # {"conv1": (N, 28, 28, 6), ..., "output": (N, 10)}
    why = explain(net, x, digits)  # why.gradient: d p[digit] / d x (N, 28, 28, 1); one at a time

Training (``train_epoch`` wraps this loop)::

    loss_fn, optimizer = SoftmaxCrossEntropy(), SGD(ExponentialDecay(0.1, 1000, 0.9), 0.9)
    probs = net.forward(x_batch, training=True)     # layers keep what backward needs
    loss = loss_fn.forward(probs, y_onehot)
    net.backward(loss_fn.backward(probs, y_onehot))  # (probs - y) / N, from below the softmax
    optimizer.step(net.trainable_layers())          # each layer's dweights, dbiases

Stages carry Keras's layer names (``model.spec.LAYER_NAMES``): conv1, pool1, conv2, pool2,
conv3, flatten, fc1, output; a conv or dense stage's output is after its activation (tanh;
softmax for output).
``net.get_weights()`` / ``set_weights()`` and the ``.npz`` weight file use the keys
``"<stage>/kernel"`` and ``"<stage>/bias"``. ``net.param_counts()`` gives conv1 156, conv2 2416,
conv3 48120, fc1 10164, output 850 (61,706 in all).

Speed: one image in about 0.15 ms, batches at about 25k images per CPU-second (im2col and one
matmul per convolution). Where other work shares a small CPU, start the process with
``OPENBLAS_NUM_THREADS=1``: OpenBLAS's threads on these thin matrices spin and wait, and ran
several times slower than one thread on the loaded 2-core dev machine.

Modules: ``layers`` (Conv2D with an optional LeCun et al. 1998 connection table and its
``C3_TABLE``, MaxPool, AvgPool, Flatten, Dense, Tanh, ReLU), ``losses`` (Softmax,
SoftmaxCrossEntropy), ``optimizers`` (SGD with momentum, Adam, ExponentialDecay), ``network``
(Stage, Sequential, lenet), ``weights`` (reading the .npz file), ``training`` (train_epoch,
evaluate), ``saliency`` (explain: d p[digit] / d input, by the network's own backward pass).
"""

from model.numpy_lenet.layers import (
    C3_TABLE,
    AvgPool,
    Conv2D,
    Dense,
    Flatten,
    MaxPool,
    ReLU,
    Tanh,
)
from model.numpy_lenet.losses import Softmax, SoftmaxCrossEntropy
from model.numpy_lenet.network import Sequential, Stage, lenet
from model.numpy_lenet.optimizers import SGD, Adam, ExponentialDecay
from model.numpy_lenet.saliency import Saliency, explain
from model.numpy_lenet.training import Metrics, evaluate, train_epoch
from model.numpy_lenet.weights import load_lenet, read_weights

__all__ = [
    "C3_TABLE",
    "SGD",
    "Adam",
    "AvgPool",
    "Conv2D",
    "Dense",
    "ExponentialDecay",
    "Flatten",
    "MaxPool",
    "Metrics",
    "ReLU",
    "Saliency",
    "Sequential",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Stage",
    "Tanh",
    "evaluate",
    "explain",
    "lenet",
    "load_lenet",
    "read_weights",
    "train_epoch",
]
