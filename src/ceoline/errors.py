"""Errors a user can act on.

Each carries a one-line message naming what is wrong and how to fix it; the CLI prints it
without a traceback and exits non-zero.
"""


class CeolineError(Exception):
    """Base class: ``str(error)`` is the one-line message shown to the user."""

    exit_code = 1


class ConfigError(CeolineError):
    exit_code = 2


class ModelError(CeolineError):
    exit_code = 3


class ModelUnavailable(CeolineError):
    """A model served elsewhere (the shared inference service) did not answer; the call goes
    on without it."""

    exit_code = 3


class AudioInputError(CeolineError):
    exit_code = 4


class StoreError(CeolineError):
    exit_code = 5


class SipError(CeolineError):
    """The SIP endpoint cannot start (address in use, codec missing, registrar refused)."""

    exit_code = 6
