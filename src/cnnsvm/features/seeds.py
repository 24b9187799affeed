"""Seeds of the CNN estimators: scikit-learn's ``random_state`` convention on top of Keras's global seed."""

from __future__ import annotations

import contextlib
import numbers
import random

import keras
import numpy as np

from cnnsvm.exceptions import ConfigError


def derived_seed(*entropy):
    """A non-negative 63-bit seed drawn from the integers ``entropy`` (a stream of its own per tuple)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0] >> 1)


def int_seed(random_state):
    """An integer seed from a ``random_state`` parameter, or ``None``.

    Parameters
    ----------
    random_state : int, numpy.random.RandomState or None
        An int is the seed itself; a ``RandomState`` gives one draw (as scikit-learn's
        estimators use a generator passed to them: the draw advances it); ``None`` gives
        ``None`` (not reproducible).

    Returns
    -------
    int or None
    """
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    raise ConfigError(
        f"random_state must be an int, a numpy.random.RandomState or None; got {random_state!r} "
        "(a numpy Generator cannot seed Keras: pass an int drawn from it)"
    )


@contextlib.contextmanager
def keras_seeded(seed):
    """Seed Keras (and TensorFlow) for one training, then give back Python's and NumPy's generators.

    :func:`keras.utils.set_random_seed` is the only way to make every layer's
    initialisation and dropout reproducible; it seeds Python's ``random``, NumPy's
    global generator and TensorFlow's. The first two are restored on exit, so that
    fitting an estimator does not reseed the caller's generators; TensorFlow's and
    Keras's global seeds stay set (they have no state to give back).

    Parameters
    ----------
    seed : int or None
        ``None``: nothing is seeded.
    """
    if seed is None:
        yield
        return
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
