"""pool: dispatch and validation."""

__all__ = []
