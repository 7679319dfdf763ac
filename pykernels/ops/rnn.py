"""rnn: dispatch and validation."""

__all__ = []
