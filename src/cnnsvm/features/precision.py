"""Numeric precision of CNN training: mixed precision where the hardware runs it natively.

Keras' mixed policies compute in 16-bit floats and keep the weights in float32.
They pay only where the hardware has native 16-bit arithmetic: bfloat16 on CPUs
with AVX-512 BF16 or AMX, float16 on GPUs. Elsewhere TensorFlow emulates the
16-bit types, which is slower than float32, so ``"auto"`` picks float32 there.
"""

from __future__ import annotations

import functools
from pathlib import Path

from cnnsvm.exceptions import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_flags():
    """The CPU's feature flags as Linux reports them (empty where unknown)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@functools.cache
def _has_gpu():
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def detect_precision():
    """The fastest policy this machine runs natively: ``mixed_float16`` on a GPU,
    ``mixed_bfloat16`` on a CPU with native bfloat16, else ``float32``."""
    import keras

    if keras.backend.backend() == "tensorflow" and _has_gpu():
        return "mixed_float16"
    if any(flag in cpu_flags() for flag in BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    return "float32"


def resolve_precision(precision):
    """The Keras dtype policy name for ``precision`` (``"auto"`` is detected)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    return detect_precision() if precision == "auto" else precision
