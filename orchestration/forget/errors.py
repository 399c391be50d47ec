"""The errors of ``ecrm forget``: a request it cannot carry out, with the exit code the command returns."""

from __future__ import annotations


class ForgetError(Exception):
    """A request ``ecrm forget`` cannot carry out as given; nothing was changed."""

    exit_code = 2


class PersonNotFound(ForgetError):
    """No record of the warehouse holds the identifier."""

    exit_code = 3


class AlreadyErased(ForgetError):
    """The identifier belongs to a person erased before, and nothing of theirs is left."""

    exit_code = 0
