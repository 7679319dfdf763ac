"""A character-level RNN (hidden 100, windows of 25 characters, gradient clipping, Adam) learns a
text and then writes some of its own.  Trains on the short tale that ships with pykernels, or on
any text file with --text (e.g. ../shared/data/tinyshakespeare.txt)."""
import math
import os

from pykernels import demos, nn

SHIPPED = os.path.join(os.path.dirname(__file__), "data", "lighthouse.txt")


def parser(name):
    p = demos.parser(name, __doc__, epochs=None)
    p.add_argument("--text", default=SHIPPED, help="text file to learn (default: the shipped tale)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 2000)")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--seq-length", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=16, help="parallel streams through the text")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--sample", type=int, default=300, help="characters to sample at the end")
    p.add_argument("--temperature", type=float, default=0.7)
    return p


def run(name, args, out):
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    if args.fast:
        text = text[:3000]
    steps = args.steps or (150 if args.fast else 2000)
    model = nn.CharRNN(text, args.hidden, seed=args.seed)
    baseline = math.log(len(model.vocab))
    out(f"char-rnn on {os.path.basename(args.text)}: {len(text)} characters, {len(model.vocab)} distinct; "
        f"hidden {args.hidden}, windows of {args.seq_length}, {args.batch_size} streams, {steps} steps")
    history = model.fit(text, steps=steps, seq_length=args.seq_length, batch_size=args.batch_size,
                        lr=args.lr, clip=5.0, seed=args.seed, progress=args.progress,
                        log_every=max(1, steps // 10))
    losses = history["loss"]
    out(f"  loss per character (nats): uniform baseline ln({len(model.vocab)}) = {baseline:.3f}")
    out("  during training: " + " ".join(f"{v:.3f}" for v in losses))
    prefix = text[:1] if text[:1] in model.vocab else ""
    sample = model.sample(prefix, args.sample, temperature=args.temperature, seed=args.seed)
    out(f"  sample (temperature {args.temperature}):")
    out("  " + sample.replace("\n", "\n  "))
    return {"baseline": baseline, "loss": losses, "sample": sample,
            "ok": losses[-1] < (0.9 if args.fast else 0.6) * baseline}
