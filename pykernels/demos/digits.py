"""An MLP (digits-mlp) or a LeNet-style CNN (digits-cnn: conv, ReLU, max-pool, conv, ReLU,
max-pool, linear) trained with Adam on three quarters of scikit-learn's 8x8 digits and tested on the
held-out quarter."""
import numpy as np

from pykernels import demos, nn, optim


def parser(name):
    p = demos.parser(name, __doc__, epochs=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--save", default=None, help="save the trained model to this .npz file")
    return p


def load_digits_split(seed, fast=False):
    """Images scaled to [0, 1] (N, 64) and labels; a seeded shuffle; the first quarter is the test set."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 4
    if fast:
        return x[n_test:n_test + 600], y[n_test:n_test + 600], x[:n_test], y[:n_test]
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def build(name, seed):
    if name == "digits-mlp":
        return nn.Sequential(nn.Linear(64, 128, seed=seed), nn.ReLU(), nn.Linear(128, 10, seed=seed + 1))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, seed=seed + 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128, 10, seed=seed + 2),
    )


def run(name, args, out):
    x_train, y_train, x_test, y_test = load_digits_split(args.seed, args.fast)
    if name == "digits-cnn":
        x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test.reshape(-1, 1, 8, 8)
    epochs = args.epochs or (15 if args.fast else 100)
    model = build(name, args.seed)
    n_params = sum(p.data.size for p in model.parameters())
    out(f"{name}: {len(x_train)} training and {len(x_test)} held-out digits; {n_params} parameters")
    history = nn.fit(model, nn.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=args.lr),
                     x_train, y_train, epochs=epochs, batch_size=args.batch_size,
                     progress=args.progress, seed=args.seed)
    logits = nn.predict(model, x_test)
    acc = nn.accuracy(logits, y_test)
    cm = nn.confusion_matrix(y_test, logits.argmax(axis=1), 10)
    out(f"  training loss {history['loss'][0]:.3f} -> {history['loss'][-1]:.4f} in {epochs} epochs")
    out(f"  held-out accuracy: {100 * acc:.2f} % ({int((logits.argmax(1) == y_test).sum())}/{len(y_test)})")
    out("  confusion matrix (rows: true digit, columns: predicted):")
    for digit, row in enumerate(cm):
        out(f"    {digit}: " + " ".join(f"{v:3d}" for v in row))
    if args.save:
        model.save(args.save)
        out(f"  model saved to {args.save}")
    return {"accuracy": acc, "history": history, "confusion_matrix": cm, "ok": acc >= (0.9 if args.fast else 0.97)}
