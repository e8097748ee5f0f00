"""Declares the optional C accelerator only; every other setting is in pyproject.toml.

``optional=True``: when the compiler or the Python headers are missing, the build goes on
without it and ssfile uses its pure-Python codec (ssfile/codec/accel.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("ssfile._speedups", ["ssfile/_speedups.c"], optional=True)])
