"""Networks with explicit backward passes (no autograd tape), shaped after PyTorch; see API.md,
"Networks".  Layers run their ops on the active backend (``pykernels.use_backend``)."""
from pykernels.nn.activation import ReLU, Sigmoid, Tanh
from pykernels.nn.conv import Conv2d
from pykernels.nn.linear import Flatten, Linear
from pykernels.nn.loss import MSELoss, SoftmaxCrossEntropy
from pykernels.nn.module import Module, Parameter, Sequential, manual_seed
from pykernels.nn.perceptron import Perceptron
from pykernels.nn.pool import AvgPool2d, MaxPool2d
from pykernels.nn.rbm import DBN, RBM
from pykernels.nn.rnn import RNN, CharRNN
from pykernels.nn.serialize import load, save
from pykernels.nn.train import accuracy, confusion_matrix, fit, predict

__all__ = [
    "Module", "Parameter", "Sequential", "manual_seed",
    "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Sigmoid", "Tanh", "Flatten",
    "SoftmaxCrossEntropy", "MSELoss", "RNN", "CharRNN", "RBM", "DBN", "Perceptron",
    "fit", "predict", "accuracy", "confusion_matrix", "save", "load",
]
