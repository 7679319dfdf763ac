"""Activations: dispatch and validation.  Math: pykernels/reference/activation.py."""
from pykernels import _backend
from pykernels.ops import checks

__all__ = ["sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward"]


def _forward(op, x, backend):
    x = checks.float_array(op, "x", x)
    be = _backend.resolve(backend)
    return getattr(be.impl, op)(be.arrays(x))


def _backward(op, saved_name, saved, dy, backend):
    saved = checks.float_array(op, saved_name, saved)
    dy = checks.float_array(op, "dy", dy)
    checks.same_dtype(op, **{saved_name: saved, "dy": dy})
    if saved.shape != dy.shape:
        raise ValueError(f"{op}: '{saved_name}' and 'dy' must have the same shape, got {saved.shape} and {dy.shape}")
    be = _backend.resolve(backend)
    return getattr(be.impl, op)(*be.arrays(saved, dy))


def sigmoid(x, *, backend=None):
    """Logistic sigmoid, elementwise; see pykernels.reference.sigmoid."""
    return _forward("sigmoid", x, backend)


def sigmoid_backward(y, dy, *, backend=None):
    """``dy * y * (1 - y)``; see pykernels.reference.sigmoid_backward."""
    return _backward("sigmoid_backward", "y", y, dy, backend)


def tanh(x, *, backend=None):
    """Hyperbolic tangent, elementwise."""
    return _forward("tanh", x, backend)


def tanh_backward(y, dy, *, backend=None):
    """``dy * (1 - y**2)``."""
    return _backward("tanh_backward", "y", y, dy, backend)


def relu(x, *, backend=None):
    """``max(x, 0)``, elementwise."""
    return _forward("relu", x, backend)


def relu_backward(x, dy, *, backend=None):
    """``dy * (x > 0)``."""
    return _backward("relu_backward", "x", x, dy, backend)
