"""rbm reference (see issue)."""

__all__ = []
