"""rbm: dispatch and validation."""

__all__ = []
