"""Training and evaluation: fit, predict, accuracy, confusion_matrix."""
from __future__ import annotations

import numbers

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.module import Module

__all__ = ["fit", "predict", "accuracy", "confusion_matrix"]


def _positive_int(where, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: argument '{name}' must be an int >= {minimum}, got {value!r}")
    return int(value)


def _inputs(where, name, x, dtype):
    """``x`` in the model's dtype: fit and predict convert real input data explicitly (documented),
    so float64 data trains a float32 model."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise TypeError(f"{where}: argument '{name}' must be a numpy.ndarray of real numbers, got "
                        f"{type(x).__name__ if not isinstance(x, np.ndarray) else x.dtype}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{where}: argument '{name}' must have at least one sample, got shape {x.shape}")
    return x if dtype is None else x.astype(dtype, copy=False)


def _targets(where, name, y, n, dtype):
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{where}: argument '{name}' must be a numpy.ndarray, got {type(y).__name__}")
    if y.shape[:1] != (n,):
        raise ValueError(f"{where}: argument '{name}' must have {n} rows like the inputs, got shape {y.shape}")
    if y.dtype.kind in "iu":
        if y.size and y.min() < 0:
            raise ValueError(f"{where}: argument '{name}' holds a negative label {int(y.min())}")
        return y.astype(np.int64, copy=False)
    if y.dtype.kind in "fb":
        return y if dtype is None else y.astype(dtype, copy=False)
    raise TypeError(f"{where}: argument '{name}' must hold integer labels or real targets, got {y.dtype}")


def _snapshot(model):
    return [_tensor.copy(p.data) for p in model.parameters()]


def _restore(model, snapshot):
    for p, data in zip(model.parameters(), snapshot):
        _tensor.assign(p.data, data)


def fit(model, loss, optimizer, x, y, *, epochs, batch_size, validation=None, early_stopping=None,
        progress=True, seed=0):
    """Mini-batch training of ``model`` on ``(x, y)``; returns the history, a dict of lists per epoch:
    ``"loss"`` (mean training loss), ``"accuracy"`` (for int labels), and with
    ``validation=(xv, yv)``: ``"val_loss"``, ``"val_accuracy"`` (int labels).

    Each epoch visits the samples in a random order drawn from ``numpy.random.default_rng(seed)``;
    ``early_stopping=p`` stops after ``p`` epochs without a lower validation loss and restores the
    weights of the best epoch.  ``x`` (and float ``y``) are converted to the model's dtype.
    """
    where = "fit"
    if not isinstance(model, Module):
        raise TypeError(f"{where}: model must be a pykernels.nn.Module, got {type(model).__name__}")
    epochs = _positive_int(where, "epochs", epochs, minimum=0)
    batch_size = _positive_int(where, "batch_size", batch_size)
    dtype = model.dtype
    x = _inputs(where, "x", x, dtype)
    y = _targets(where, "y", y, len(x), dtype)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(f"{where}: validation must be a pair (x_val, y_val)")
        xv = _inputs(where, "validation x", validation[0], dtype)
        yv = _targets(where, "validation y", validation[1], len(xv), dtype)
    if early_stopping is not None:
        early_stopping = _positive_int(where, "early_stopping", early_stopping)
        if validation is None:
            raise ValueError(f"{where}: early_stopping needs validation=(x_val, y_val) to watch")
    classify = y.dtype == np.int64
    rng = np.random.default_rng(seed)
    history = {"loss": []}
    if classify:
        history["accuracy"] = []
    if validation is not None:
        history["val_loss"] = []
        if classify:
            history["val_accuracy"] = []
    n = len(x)
    batches = (n + batch_size - 1) // batch_size
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs * batches, desc="fit", unit="batch", leave=False)
    best, best_loss, waited = None, np.inf, 0
    try:
        for _ in range(epochs):
            model.train()
            order = rng.permutation(n)
            total, hits = 0.0, None
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                xb, yb = x[idx], y[idx]
                optimizer.zero_grad()
                out = model.forward(xb)
                total += loss(out, yb) * len(idx)
                model.backward(loss.backward())
                optimizer.step()
                if classify:
                    # NOTE: on a device model the count stays on the device (the loss uploaded the
                    # labels once as loss.target); it is read once per epoch.
                    labels = getattr(loss, "target", None)
                    if labels is None or not _tensor.is_device(labels):
                        labels = yb
                    if hits is None:
                        hits = _tensor.new_hits(out)
                    _tensor.add_hits(hits, out, labels)
                if bar is not None:
                    bar.update(1)
            history["loss"].append(total / n)
            if classify:
                history["accuracy"].append(int(_tensor.to_numpy(hits)[0]) / n)
            if validation is not None:
                out = predict(model, xv)
                val_loss = float(loss(out, yv))
                history["val_loss"].append(val_loss)
                if classify:
                    history["val_accuracy"].append(accuracy(out, yv))
                if bar is not None:
                    bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", val_loss=f"{val_loss:.4f}")
                if early_stopping is not None:
                    if val_loss < best_loss:
                        best, best_loss, waited = _snapshot(model), val_loss, 0
                    else:
                        waited += 1
                        if waited >= early_stopping:
                            break
            elif bar is not None:
                bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    finally:
        if bar is not None:
            bar.close()
    if best is not None:
        _restore(model, best)
    model.train()
    return history


def predict(model, x, batch_size=256):
    """``model``'s outputs for ``x`` in eval mode, batch by batch, as one NumPy array."""
    if not isinstance(model, Module):
        raise TypeError(f"predict: model must be a pykernels.nn.Module, got {type(model).__name__}")
    batch_size = _positive_int("predict", "batch_size", batch_size)
    x = _inputs("predict", "x", x, model.dtype)
    mode = model.training
    model.eval()
    try:
        outs = [_tensor.to_numpy(model.forward(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    finally:
        model.train(mode)
    return np.concatenate(outs, axis=0)


def _labels(where, name, y):
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{where}: argument '{name}' must hold integer labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{where}: argument '{name}' must be 1-D, got shape {y.shape}")
    return y.astype(np.int64, copy=False)


def accuracy(logits, y):
    """Fraction of rows whose arg-max of ``logits`` (N, K) equals the label ``y`` (N,); ``logits``
    may also be predicted labels (N,)."""
    y = _labels("accuracy", "y", y)
    logits = _tensor.to_numpy(logits)
    pred = logits.argmax(axis=1) if logits.ndim == 2 else _labels("accuracy", "logits", logits)
    if pred.shape != y.shape:
        raise ValueError(f"accuracy: {len(pred)} predictions but {len(y)} labels")
    if len(y) == 0:
        raise ValueError("accuracy: empty batch")
    return float(np.mean(pred == y))


def confusion_matrix(y_true, y_pred, n_classes):
    """(n_classes, n_classes) int64 counts: row = true class, column = predicted class."""
    y_true = _labels("confusion_matrix", "y_true", y_true)
    y_pred = _labels("confusion_matrix", "y_pred", y_pred)
    n_classes = _positive_int("confusion_matrix", "n_classes", n_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true has shape {y_true.shape} but y_pred {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"confusion_matrix: argument '{name}' holds labels outside [0, {n_classes})")
    out = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out
