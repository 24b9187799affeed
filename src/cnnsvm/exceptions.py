"""Errors raised for bad input; the CLI turns each into one line and a non-zero exit."""


class CnnsvmError(Exception):
    """Base class of the errors this package raises on purpose."""


class DataError(CnnsvmError, ValueError):
    """A dataset, image or array is unusable: its message says what is wrong and what to do."""


class ModelFileError(CnnsvmError):
    """A model file is missing, tampered with, truncated or incompatible."""


class ConfigError(CnnsvmError, ValueError):
    """An experiment or command configuration is invalid."""
