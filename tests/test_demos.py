"""Every demo of ``python -m pykernels demo`` in its fast mode, checking what it prints and returns."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pykernels import demos


def _run(name, *argv):
    lines = []
    result = demos.main(name, ["--no-progress", *argv], out=lines.append)
    return result, "\n".join(lines)


def test_names():
    assert demos.NAMES == ("perceptron", "xor", "digits-mlp", "digits-cnn", "dbn", "binary-add", "char-rnn")
    with pytest.raises(ValueError, match="unknown demo"):
        demos.main("nope")


def test_perceptron():
    result, text = _run("perceptron", "--fast")
    gates = result["gates"]
    assert all(gates[g]["converged"] for g in ("AND", "OR", "NOR")) and not gates["XOR"]["converged"]
    assert gates["AND"]["outputs"] == [0, 0, 0, 1] and gates["NOR"]["outputs"] == [1, 0, 0, 0]
    assert "XOR: did NOT converge" in text and result["ok"]


def test_xor():
    result, text = _run("xor", "--fast")
    assert np.array_equal(np.round(result["outputs"]), [0, 1, 1, 0]), result["outputs"]
    assert "1 xor 1 =" in text and result["ok"]


@pytest.mark.parametrize("name", ["digits-mlp", "digits-cnn"])
def test_digits(name, tmp_path):
    path = tmp_path / "model.npz"
    result, text = _run(name, "--fast", "--save", str(path))
    assert result["accuracy"] > 0.85, result["accuracy"]
    assert result["confusion_matrix"].sum() == 449 and "held-out accuracy" in text
    from pykernels import nn

    assert isinstance(nn.load(path), nn.Sequential)


def test_dbn(tmp_path):
    out = tmp_path / "filters.png"
    result, text = _run("dbn", "--fast", "--out", str(out))
    assert result["accuracy_pretrained"] > 0.5 and 0 <= result["accuracy_random"] <= 1
    assert os.path.exists(result["filters"]) and "with pretraining" in text and "without pretraining" in text


def test_binary_add():
    result, text = _run("binary-add", "--steps", "600")
    assert result["accuracy_8bit"] == 1.0, text
    assert result["accuracy_10bit"] > 0.99 and "255 + 255 = 510" in text


def test_char_rnn_shipped_text_and_text_option(tmp_path):
    result, text = _run("char-rnn", "--fast", "--batch-size", "8")
    from pykernels.demos.char_rnn import SHIPPED

    with open(SHIPPED, encoding="utf-8") as f:
        shipped = f.read()
    assert len(shipped) > 5000
    assert result["baseline"] == pytest.approx(math.log(len(set(shipped[:3000]))))  # --fast: the first 3000
    assert result["loss"][-1] < 0.9 * result["baseline"]
    assert len(result["sample"]) == 301 and "sample" in text
    path = tmp_path / "t.txt"
    path.write_text("abcabcabd " * 200)
    result, _ = _run("char-rnn", "--text", str(path), "--steps", "60", "--hidden", "16", "--sample", "20")
    assert result["baseline"] == pytest.approx(math.log(5)) and result["loss"][-1] < 0.5 * result["baseline"]
    assert set(result["sample"]) <= set("abcd ")


def test_command_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-m", "pykernels", "demo", "xor", "--fast", "--no-progress"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "0 xor 1 =" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "pykernels", "demo", "char-rnn", "--help"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "--text" in proc.stdout and "--fast" in proc.stdout


def _shared_data(name):
    """``shared/data/NAME`` beside the checkout (or any folder above it), or $PYKERNELS_DATA/NAME."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("PYKERNELS_DATA", "")]
    while True:
        candidates.append(os.path.join(here, "shared", "data"))
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for folder in candidates:
        path = os.path.join(folder, name)
        if folder and os.path.isfile(path):
            return path
    pytest.skip(f"{name} not found in ../shared/data or $PYKERNELS_DATA")


def test_char_rnn_on_tinyshakespeare():
    path = _shared_data("tinyshakespeare.txt")
    result, text = _run("char-rnn", "--text", path, "--steps", "200", "--batch-size", "8", "--sample", "80")
    assert result["baseline"] == pytest.approx(math.log(65))
    assert result["loss"][-1] < 0.85 * result["baseline"], result["loss"]
    assert "tinyshakespeare.txt: 1115394 characters" in text
