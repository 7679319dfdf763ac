"""Restricted Boltzmann machine with binary units: conditionals, Gibbs sampling and CD-k.

Shapes: ``w`` (n_hidden, n_visible), visible bias ``b`` (n_visible,), hidden bias ``c``
(n_hidden,), visible batch ``v`` (N, n_visible), hidden batch ``h`` (N, n_hidden).  Energy
``E(v, h) = -b.v - c.h - h.w.v``, hence the factorised conditionals::

    P(h=1 | v) = sigmoid(v @ w.T + c)          P(v=1 | h) = sigmoid(h @ w + b)

Randomness comes from the Philox stream of pykernels.random: a unit with probability p is on exactly
when its uniform u < p (p's dtype), the uniforms of an (N, n) draw taken row-major from
``(seed, counter)``.  Gibbs step s (0-based) draws the hidden units with ``counter + 2s`` and the
visible units with ``counter + 2s + 1`` (counters modulo 2**64).

- ``rbm_gibbs(v0, ..., k)``: ``h_s ~ P(h | v_s)``, ``v_{s+1} ~ P(v | h_s)`` for s = 0 .. k-1, then
  ``hk ~ P(h | vk)`` with ``counter + 2k``; returns ``(vk, hk)`` and uses counters
  ``counter .. counter + 2k``.  k = 0 returns a copy of ``v0`` and one hidden draw.
- ``rbm_cd(v0, ..., k, chain)``: the CD-k log-likelihood ascent direction, averaged over the batch::

      ph0 = P(h | v0)                  positive phase (probabilities, not samples)
      vk  = k Gibbs steps from start   start = v0, or ``chain`` for persistent CD
      phk = P(h | vk)                  negative phase
      dw  = (ph0.T @ v0 - phk.T @ vk) / N
      db  = mean(v0 - vk, axis=0),     dc = mean(ph0 - phk, axis=0),     chain_out = vk

  The chain runs with the same counters as ``rbm_gibbs``, so ``vk == rbm_gibbs(start, ...)[0]``; it
  uses counters ``counter .. counter + 2k - 1`` (no final hidden draw).  A training loop that
  draws one mini-batch after another advances ``counter`` by ``2k + 1`` per mini-batch (the width
  of a ``rbm_gibbs`` call), so no two batches share uniforms.

Inputs ``v0`` and ``chain`` are float arrays of ``w``'s dtype holding 0/1 values (the data may also
be probabilities in [0, 1]: ``v0`` then enters the statistics as is and drives the first draw);
samples are returned as 0/1 in that dtype.  Numerics: the sigmoid never overflows (see
pykernels.reference.sigmoid).
"""
import numpy as np

from pykernels.random import bernoulli
from pykernels.reference.activation import sigmoid

__all__ = ["rbm_hidden_probs", "rbm_visible_probs", "rbm_gibbs", "rbm_cd"]


def rbm_hidden_probs(v, w, c):
    """``P(h=1 | v) = sigmoid(v @ w.T + c)``, (N, n_hidden)."""
    return sigmoid(v @ w.T + c)


def rbm_visible_probs(h, w, b):
    """``P(v=1 | h) = sigmoid(h @ w + b)``, (N, n_visible)."""
    return sigmoid(h @ w + b)


def _chain(v, w, b, c, k, seed, counter):
    """k Gibbs steps from v with the counters of the module docstring; returns v_k."""
    for s in range(k):
        h = bernoulli(rbm_hidden_probs(v, w, c), seed, counter + 2 * s)
        v = bernoulli(rbm_visible_probs(h, w, b), seed, counter + 2 * s + 1)
    return v


def rbm_gibbs(v0, w, b, c, k=1, *, seed, counter=0):
    """``(vk, hk)`` after k Gibbs steps from ``v0`` and a final hidden draw (module docstring)."""
    vk = _chain(v0, w, b, c, k, seed, counter)
    hk = bernoulli(rbm_hidden_probs(vk, w, c), seed, counter + 2 * k)
    return np.array(vk, copy=True), hk


def rbm_cd(v0, w, b, c, k=1, *, seed, counter=0, chain=None):
    """``(dw, db, dc, chain_out)``: the CD-k (or persistent CD-k with ``chain``) ascent direction."""
    ph0 = rbm_hidden_probs(v0, w, c)
    start = v0 if chain is None else chain
    vk = _chain(start, w, b, c, k, seed, counter)
    phk = rbm_hidden_probs(vk, w, c)
    n = v0.shape[0]
    dw = (ph0.T @ v0 - phk.T @ vk) / w.dtype.type(n)
    db = (v0 - vk).mean(axis=0)
    dc = (ph0 - phk).mean(axis=0)
    return dw, db, dc, np.array(vk, copy=True)
