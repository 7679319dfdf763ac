"""Elementwise activations on the CUDA backends (kernels: cuda/activation.cu)."""

OPS = ("sigmoid", "tanh", "relu", "sigmoid_backward", "tanh_backward", "relu_backward")


def _unary(rt, op, x):
    with rt.call(x) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        y = call.empty(xd.shape, xd.dtype)
        getattr(rt.native, op)(xd.dtype.char, xd.ptr, y.ptr, xd.size)
        return call.result(y)


def _binary(rt, op, saved_name, saved, dy):
    with rt.call(saved, dy) as call:
        sd = call.input(saved, f"{op}: argument '{saved_name}'")
        dyd = call.input(dy, f"{op}: argument 'dy'")
        dx = call.empty(dyd.shape, dyd.dtype)
        getattr(rt.native, op)(dyd.dtype.char, sd.ptr, dyd.ptr, dx.ptr, dyd.size)
        return call.result(dx)


def sigmoid(rt, x):
    return _unary(rt, "sigmoid", x)


def tanh(rt, x):
    return _unary(rt, "tanh", x)


def relu(rt, x):
    return _unary(rt, "relu", x)


def sigmoid_backward(rt, y, dy):
    return _binary(rt, "sigmoid_backward", "y", y, dy)


def tanh_backward(rt, y, dy):
    return _binary(rt, "tanh_backward", "y", y, dy)


def relu_backward(rt, x, dy):
    return _binary(rt, "relu_backward", "x", x, dy)
