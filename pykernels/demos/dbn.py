"""A deep belief network on scikit-learn's digits: greedy RBM pretraining (CD-1), then the stack
unrolled into a sigmoid classifier and fine-tuned; compared with the same classifier trained from a
random start, and the first layer's filters drawn to a picture."""
import os

import numpy as np

from pykernels import demos, nn, optim
from pykernels.demos.digits import load_digits_split


def parser(name):
    p = demos.parser(name, __doc__, epochs=30)
    p.add_argument("--sizes", default="64,128,64", help="layer sizes (default 64,128,64)")
    p.add_argument("--pretrain-epochs", type=int, default=None, help="RBM epochs per layer (default 30)")
    p.add_argument("--out", default="dbn_filters.png",
                   help="picture of the first-layer filters (.png with matplotlib, else a .txt drawing)")
    return p


def filters_picture(w, path, out):
    """The rows of ``w`` (n_hidden, 64) as 8x8 tiles: a PNG when matplotlib is installed, else text."""
    tiles = w[: min(len(w), 64)].reshape(-1, 8, 8)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        path = os.path.splitext(path)[0] + ".txt"
        shades = " .:-=+*#%@"
        lines = []
        for row in range(0, len(tiles), 8):
            group = tiles[row:row + 8]
            for r in range(8):
                line = []
                for t in group:
                    lo, hi = t.min(), t.max()
                    scaled = (t[r] - lo) / (hi - lo + 1e-12)
                    line.append("".join(shades[int(s * (len(shades) - 1))] for s in scaled))
                lines.append("  ".join(line))
            lines.append("")
        with open(path, "w") as f:
            f.write("First-layer RBM filters (8x8 each, dark = negative, '@' = positive)\n\n" + "\n".join(lines))
        out(f"  filters drawn as text to {path} (install matplotlib for a PNG)")
        return path
    cols = 8
    rows = (len(tiles) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows))
    for ax, t in zip(np.ravel(axes), list(tiles) + [None] * (rows * cols - len(tiles))):
        ax.axis("off")
        if t is not None:
            ax.imshow(t, cmap="gray")
    fig.suptitle("First-layer RBM filters")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    out(f"  filters written to {path}")
    return path


def run(name, args, out):
    sizes = [int(s) for s in args.sizes.split(",")]
    x_train, y_train, x_test, y_test = load_digits_split(args.seed, args.fast)
    pre_epochs = args.pretrain_epochs or (3 if args.fast else 30)
    epochs = args.epochs or (5 if args.fast else 30)
    out(f"DBN {sizes} on {len(x_train)} digits, pretraining {pre_epochs} epochs per RBM (CD-1), "
        f"then fine-tuning {epochs} epochs; tested on {len(x_test)} held-out digits")
    dbn = nn.DBN(sizes, seed=args.seed)
    histories = dbn.pretrain(x_train, epochs=pre_epochs, batch_size=32, k=1, lr=0.1, seed=args.seed,
                             progress=args.progress)
    for i, h in enumerate(histories):
        err = h["reconstruction_error"]
        out(f"  RBM {i} ({sizes[i]}->{sizes[i + 1]}): reconstruction error {err[0]:.4f} -> {err[-1]:.4f}")
    results = {}
    for label, model in (("with pretraining", dbn.to_classifier(10, seed=args.seed + 100)),
                         ("without pretraining", nn.DBN(sizes, seed=args.seed + 1).to_classifier(10, seed=args.seed + 100))):
        if label == "without pretraining":  # a plain random start, as PyTorch would initialise it
            model = nn.Sequential(*[layer for layer in _random_like(model, args.seed)])
        nn.fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
               x_train, y_train, epochs=epochs, batch_size=32, progress=args.progress, seed=args.seed)
        results[label] = nn.accuracy(nn.predict(model, x_test), y_test)
        out(f"  held-out accuracy {label}: {100 * results[label]:.2f} %")
    path = filters_picture(dbn.rbms[0].w.data, args.out, out)
    return {"accuracy_pretrained": results["with pretraining"],
            "accuracy_random": results["without pretraining"],
            "reconstruction_error": [h["reconstruction_error"] for h in histories],
            "filters": path, "ok": results["with pretraining"] > 0.5}


def _random_like(model, seed):
    """Fresh Linear layers (PyTorch's default initialisation) in place of the pretrained ones."""
    layers = []
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            layers.append(nn.Linear(layer.in_features, layer.out_features, seed=seed + 200 + i))
        else:
            layers.append(layer)
    return layers
