"""Moved to :mod:`tests.helpers.det_scenes`; this name stays until every
test imports it from there."""
from tests.helpers.det_scenes import random_scene  # noqa: F401
