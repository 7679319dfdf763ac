"""model.save / nn.load: exact round trip for every model type, atomic writes (a process killed
mid-save leaves the previous file loadable), and clear errors for truncated or corrupted files."""
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from pykernels import nn


def _models():
    return {
        "sequential-cnn": nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                                        nn.AvgPool2d(1), nn.Flatten(), nn.Linear(4, 3, seed=2), nn.Sigmoid(), nn.Tanh()),
        "sequential-nobias-f64": nn.Sequential(nn.Linear(3, 2, bias=False, seed=3, dtype=np.float64)),
        "rnn": nn.RNN(3, 5, truncate=2, seed=4),
        "charrnn": nn.CharRNN("héllo wörld\n", 6, seed=5),
        "rbm": nn.RBM(6, 4, seed=6),
        "dbn": nn.DBN([6, 5, 3], seed=7),
        "perceptron": nn.Perceptron(3),
    }


def _sample_input(name, rng):
    return {
        "sequential-cnn": rng.random((2, 1, 4, 4), dtype=np.float32),
        "sequential-nobias-f64": rng.random((2, 3)),
        "rnn": rng.random((4, 2, 3), dtype=np.float32),
        "charrnn": rng.integers(0, 9, (3, 2)),
        "rbm": rng.random((2, 6), dtype=np.float32),
        "dbn": rng.random((2, 6), dtype=np.float32),
        "perceptron": rng.random((2, 3), dtype=np.float32),
    }[name]


@pytest.mark.parametrize("name", list(_models()))
def test_round_trip_is_exact(tmp_path, rng, name):
    model = _models()[name]
    for p in model.parameters():  # not the initial values: make every parameter distinctive
        p.data[...] = rng.standard_normal(p.data.shape)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = nn.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert [n for n, _ in loaded.named_parameters()] == [n for n, _ in model.named_parameters()]
    for p, q in zip(model.parameters(), loaded.parameters()):
        assert p.data.dtype == q.data.dtype
        np.testing.assert_array_equal(p.data, q.data)
    x = _sample_input(name, rng)
    np.testing.assert_array_equal(model.forward(x), loaded.forward(x))
    assert not any(os.path.basename(f).endswith(".tmp") for f in os.listdir(tmp_path))


def test_save_replaces_and_keeps_the_exact_path(tmp_path):
    path = tmp_path / "m"
    nn.Linear(2, 2, seed=0).save(path)
    nn.Linear(2, 3, seed=0).save(str(path))
    assert os.listdir(tmp_path) == ["m"]
    assert nn.load(path).out_features == 3


def _saved(tmp_path):
    path = tmp_path / "model.npz"
    nn.Sequential(nn.Linear(4, 8, seed=0), nn.ReLU(), nn.Linear(8, 2, seed=1)).save(path)
    return path


def test_truncated_file_raises_value_error(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="model.npz.*not a valid pykernels model file"):
            nn.load(path)


def test_corrupted_bytes_raise_value_error(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("param_000.npy")
    start = info.header_offset + 30 + len(info.filename) + 128 + 8  # inside the array data
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.npz.*(corrupted|not a valid)"):
        nn.load(path)


def test_other_files_raise_value_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.txt.*not a valid pykernels model file"):
        nn.load(text)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(ValueError, match="no pykernels metadata"):
        nn.load(plain)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        nn.load(single)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickled.npy"):
        nn.load(pickled)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.npz")


_KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from pykernels import nn
    path, when = sys.argv[1], sys.argv[2]
    model = nn.Sequential(nn.Linear(64, 512, seed=1), nn.ReLU(), nn.Linear(512, 10, seed=2))
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if when == "write":      # killed while the archive is being written
        real = np.lib.format.write_array
        calls = []
        def write_then_die(*args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                die()
            return real(*args, **kwargs)
        np.lib.format.write_array = write_then_die
    elif when == "fsync":    # killed after writing, before the rename
        os.fsync = die
    else:                    # killed at the rename itself
        os.replace = die
    model.save(path)
    print("not killed")
""")


@pytest.mark.parametrize("when", ["write", "fsync", "replace"])
def test_killed_save_leaves_previous_file_loadable(tmp_path, when):
    path = tmp_path / "model.npz"
    old = nn.Sequential(nn.Linear(2, 3, seed=9))
    old.save(path)
    script = tmp_path / "save.py"
    script.write_text(_KILLED_SAVE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, str(script), str(path), when], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stdout + proc.stderr  # SIGKILL
    loaded = nn.load(path)
    np.testing.assert_array_equal(loaded[0].weight.data, old[0].weight.data)


def test_save_rejects_non_models(tmp_path):
    from pykernels.nn import save

    with pytest.raises(TypeError, match="Module"):
        save({"w": np.zeros(2)}, tmp_path / "x.npz")


def test_absurd_array_header_raises_value_error(tmp_path):
    """A crafted archive whose array header claims an enormous shape: a clear error, no MemoryError."""
    path = _saved(tmp_path)
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    data = members["param_000.npy"]
    old, big = b"'shape': (8, 4), }", b"'shape': (8000000000000, 4), }"
    assert old in data
    pad = len(big) - len(old)
    end = data.index(b"\n")  # the header keeps its length: take the extra characters from its padding
    members["param_000.npy"] = data[:end - pad].replace(old, big) + data[end:]
    assert len(members["param_000.npy"]) == len(data)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match="model.npz"):
        nn.load(path)
