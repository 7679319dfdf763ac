"""Rosenblatt's perceptron learns AND, OR and NOR with the add/subtract rule and never settles on
XOR, which no line separates."""
import numpy as np

from pykernels import demos, nn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TABLES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "NOR": [1, 0, 0, 0], "XOR": [0, 1, 1, 0]}


def parser(name):
    p = demos.parser(name, __doc__)
    p.add_argument("--max-epochs", type=int, default=100, help="epochs before giving up (default 100)")
    return p


def run(name, args, out):
    out("Perceptron (Rosenblatt's rule: add the input on a missed 1, subtract it on a missed 0)")
    results = {}
    for gate, table in TABLES.items():
        y = np.array(table)
        p = nn.Perceptron(2)
        converged = p.fit(X, y, max_epochs=args.max_epochs)
        pred = p.predict(X)
        results[gate] = {"converged": converged, "epochs": p.epochs, "outputs": pred.tolist(),
                         "weights": p.w.data.tolist(), "bias": float(p.b.data[0])}
        state = f"converged after {p.epochs} epochs" if converged else f"did NOT converge in {p.epochs} epochs"
        out(f"  {gate:<3}: {state}; w = {p.w.data.tolist()}, b = {p.b.data[0]:g}; "
            f"outputs {pred.tolist()} (target {table})")
    ok = all(results[g]["converged"] for g in ("AND", "OR", "NOR")) and not results["XOR"]["converged"]
    out("XOR is not linearly separable: a single threshold unit cannot learn it." if ok else "unexpected result")
    return {"gates": results, "ok": ok}
