"""Moved to :mod:`tests.helpers.configs`; this name stays until every test
imports it from there."""
from tests.helpers.configs import write_short_config  # noqa: F401
from tests.helpers.paths import DEMO_CONFIG  # noqa: F401
