"""Public ops: validate once (pykernels.ops.checks), then dispatch to the chosen backend."""
from pykernels.ops import activation as _activation
from pykernels.ops import conv as _conv
from pykernels.ops import gemm as _gemm
from pykernels.ops import pool as _pool
from pykernels.ops import rbm as _rbm
from pykernels.ops import rnn as _rnn
from pykernels.ops import softmax as _softmax
from pykernels.ops.activation import *  # noqa: F401,F403
from pykernels.ops.conv import *  # noqa: F401,F403
from pykernels.ops.gemm import *  # noqa: F401,F403
from pykernels.ops.pool import *  # noqa: F401,F403
from pykernels.ops.rbm import *  # noqa: F401,F403
from pykernels.ops.rnn import *  # noqa: F401,F403
from pykernels.ops.softmax import *  # noqa: F401,F403

__all__ = [
    name
    for family in (_gemm, _activation, _softmax, _conv, _pool, _rnn, _rbm)
    for name in family.__all__
]
