"""Process-wide BLAS thread control for the SVMs' kernel products."""

from __future__ import annotations

import contextlib
import threading

# Reentrant: a kernel product may run inside another's limit in the same thread (the approximate
# SVM's prediction holds it while the fast path's first call checks scikit-learn on a small SVC).
_lock = threading.RLock()
_pools = []


@contextlib.contextmanager
def one_blas_thread():
    """Run the kernel products of the SVMs (prediction, Nystroem mapping) on one BLAS thread.

    OpenBLAS splits products above ~0.3 M multiply-adds over all cores. When another
    process keeps a core busy, the split threads wait on each other: a batch of 32
    feature vectors against 800 support vectors took 40 ms instead of 0.4 ms on a
    shared 2-core machine, and a batch of 1024 20-110 ms instead of 8 ms. Next to the
    CNN's forward pass a second thread would save little even on idle cores. The
    limit is process-wide (:class:`threadpoolctl.ThreadpoolController`), hence the
    lock: concurrent callers queue here.
    """
    with _lock:
        if not _pools:
            from threadpoolctl import ThreadpoolController

            _pools.append(ThreadpoolController().select(user_api="blas"))
        with _pools[0].limit(limits=1):
            yield
