"""Shared builders, runners and parsers for the test suite.

Tests import from here (``from tests.helpers.<module> import ...``), never from
another test module. One module per area; each helper names what it builds.
"""
