"""rnn reference (see issue)."""

__all__ = []
