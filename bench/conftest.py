import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest


def pytest_collect_file(file_path, parent):
    """Collect bench_*.py (pytest's default pattern, test_*.py, would find nothing here)."""
    # files named on the command line are collected by pytest itself
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
