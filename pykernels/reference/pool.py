"""pool reference (see issue)."""

__all__ = []
