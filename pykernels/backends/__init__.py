"""Backends that need more than a module of functions: the CUDA backends (``cuda`` and ``cuda-sim``)."""
