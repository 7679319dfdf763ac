"""Pure-NumPy reference implementations: the correctness oracle for every compiled backend.

Every op of API.md lives here with the public signature (less ``backend=``).  This package imports
no compiled code.  Functions here do not validate arguments: pykernels.<op> does that once for all
backends, so call these through ``pykernels.<op>(..., backend="numpy")`` unless inputs are known good.
"""
from pykernels.reference.activation import *  # noqa: F401,F403
from pykernels.reference.conv import *  # noqa: F401,F403
from pykernels.reference.gemm import *  # noqa: F401,F403
from pykernels.reference.pool import *  # noqa: F401,F403
from pykernels.reference.rbm import *  # noqa: F401,F403
from pykernels.reference.rnn import *  # noqa: F401,F403
from pykernels.reference.softmax import *  # noqa: F401,F403
