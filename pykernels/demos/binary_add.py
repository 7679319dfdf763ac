"""A recurrent network learns binary addition: reading two numbers bit by bit (least significant
first) it writes their sum, carrying in its hidden state.  Trained on 8-bit numbers, tested on all
65536 pairs of 8-bit numbers and on 10-bit numbers it never saw."""
import numpy as np

from pykernels import demos, nn, optim


def parser(name):
    p = demos.parser(name, __doc__, epochs=None)
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1500)")
    p.add_argument("--hidden", type=int, default=16, help="hidden units (default 16)")
    return p


def bits(a, b, n_bits):
    """Inputs (T, N, 2) and targets (T, N) for a + b, T = n_bits + 1 steps, least significant first."""
    t = np.arange(n_bits + 1)
    x = np.stack([(a[None, :] >> t[:, None]) & 1, (b[None, :] >> t[:, None]) & 1], axis=-1)
    y = ((a + b)[None, :] >> t[:, None]) & 1
    return x.astype(np.float32), y.astype(np.int64)


class Adder(nn.Module):
    """RNN(2, hidden) followed by a Linear(hidden, 2) read-out at every step."""

    def __init__(self, hidden, seed):
        self.rnn = nn.RNN(2, hidden, seed=seed)
        self.out = nn.Linear(hidden, 2, seed=seed + 1)

    def children(self):
        return [self.rnn, self.out]

    def forward(self, x):
        return self.out.forward(self.rnn.forward(x))

    def backward(self, dy):
        return self.rnn.backward(self.out.backward(dy))

    def add(self, a, b, n_bits):
        x, _ = bits(a, b, n_bits)
        digits = self.forward(x).argmax(axis=-1)  # (T, N)
        return (digits << np.arange(n_bits + 1)[:, None]).sum(axis=0)


def run(name, args, out):
    steps = args.steps or (400 if args.fast else 1500)
    rng = np.random.default_rng(args.seed)
    model = Adder(args.hidden, args.seed)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss = nn.SoftmaxCrossEntropy()
    first = last = None
    for step in range(steps):
        a, b = rng.integers(0, 256, 64), rng.integers(0, 256, 64)
        x, y = bits(a, b, 8)
        logits = model.forward(x)
        value = loss(logits.reshape(-1, 2), y.reshape(-1))
        opt.zero_grad()
        model.backward(loss.backward().reshape(logits.shape))
        opt.step()
        first = value if first is None else first
        last = value
    a, b = np.meshgrid(np.arange(256), np.arange(256))
    a, b = a.ravel(), b.ravel()
    acc8 = float(np.mean(model.add(a, b, 8) == a + b))
    a10, b10 = rng.integers(0, 1024, 10000), rng.integers(0, 1024, 10000)
    acc10 = float(np.mean(model.add(a10, b10, 10) == a10 + b10))
    out(f"RNN with {args.hidden} hidden units, {steps} steps of Adam on random 8-bit pairs:")
    out(f"  loss per bit {first:.4f} -> {last:.5f}")
    out(f"  all 65536 pairs of 8-bit numbers: {100 * acc8:.2f} % of sums exact")
    out(f"  10000 random pairs of 10-bit numbers (never trained on): {100 * acc10:.2f} % exact")
    for u, v in ((57, 198), (255, 255), (700, 999)):
        n = 10 if max(u, v) > 255 else 8
        got = int(model.add(np.array([u]), np.array([v]), n)[0])
        out(f"  {u} + {v} = {got}  ({u:0{n}b} + {v:0{n}b} = {got:0{n + 1}b})")
    return {"accuracy_8bit": acc8, "accuracy_10bit": acc10, "loss": last,
            "ok": acc8 == 1.0 if not args.fast else acc8 > 0.9}
