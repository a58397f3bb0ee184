"""Moved to :mod:`tests.helpers.distributed`; this name stays until every
test imports it from there."""
from tests.helpers.distributed import free_port, run_distributed  # noqa: F401
