"""conv: dispatch and validation."""

__all__ = []
