"""Run the pipeline with one BLAS thread.

numpy's OpenBLAS starts a thread per core for any large enough matrix product, and its
threads spin for a while after each call. The pipeline's products are (n, 3) @ (3, 3)
transforms, a millisecond on one thread, so the extra threads gain nothing; but their
spinning takes the cores that the texture encode, Draco and the codec ranking run on. On
the bench sphere's level 0 with ``--codec auto`` (2 cores) the build took 0.90 s with
OpenBLAS's threads and 0.79 s without.

The limit is process-wide while a build runs (threadpoolctl sets OpenBLAS's own thread
count and restores it afterwards): BLAS calls of other threads in the same process run
on one thread meanwhile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_blas_thread(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run with BLAS limited to one thread."""

    @functools.wraps(function)
    def limited(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return limited
