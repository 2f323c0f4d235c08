"""CLI tests import the table check from here (``from .conftest import readability_problems``); it lives, with
the ``table_problems`` and ``console_width`` fixtures, in tests/conftest.py so that every test folder has it."""

from ..conftest import readability_problems

__all__ = ["readability_problems"]
