"""The course's eleven-line network: two sigmoid layers learn XOR by gradient descent on the
squared error, full batch."""
import numpy as np

from pykernels import demos, nn, optim

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
Y = np.array([[0], [1], [1], [0]], dtype=np.float32)


def parser(name):
    p = demos.parser(name, __doc__, epochs=3000)
    p.add_argument("--hidden", type=int, default=4, help="hidden units (default 4)")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate (default 1.0)")
    return p


def run(name, args, out):
    epochs = args.epochs or (1000 if args.fast else 3000)
    model = nn.Sequential(nn.Linear(2, args.hidden, seed=args.seed), nn.Sigmoid(),
                          nn.Linear(args.hidden, 1, seed=args.seed + 1), nn.Sigmoid())
    loss = nn.MSELoss()
    opt = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    history = nn.fit(model, loss, opt, X, Y, epochs=epochs, batch_size=4, progress=args.progress, seed=args.seed)
    outputs = nn.predict(model, X)[:, 0]
    out(f"XOR with a 2-{args.hidden}-1 sigmoid network, {epochs} epochs of SGD (lr {args.lr}, momentum 0.9):")
    out(f"  squared error {history['loss'][0]:.4f} -> {history['loss'][-1]:.6f}")
    for xi, yi, o in zip(X, Y[:, 0], outputs):
        out(f"  {int(xi[0])} xor {int(xi[1])} = {o:.4f}  (target {int(yi)})")
    ok = bool(np.array_equal(np.round(outputs), Y[:, 0]))
    return {"outputs": outputs.tolist(), "loss": history["loss"][-1], "ok": ok}
