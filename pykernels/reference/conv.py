"""conv reference (see issue)."""

__all__ = []
