"""The installed version of SecurityNet, recorded with every stored result.

A module of its own so that any layer can read it without importing the package's public API
(`securitynet/__init__.py` reaches the engine, the store and the analysis).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("securitynet")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
