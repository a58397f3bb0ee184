"""Shipped configs parsed once per test process.

``Config.fromfile`` resolves each ``mmdet::`` / ``mmpretrain::`` base by
first reading every ``metafile.yml`` that the package's model index lists
(mmengine looks for a model entry before falling back to the plain path):
0.3-0.5 s a load of our configs. Tests that read a config, or change their
own copy of it, share one parse; each gets a deep copy.
"""
import copy
import functools

from mmengine.config import Config


@functools.lru_cache(maxsize=None)
def _parsed(path: str) -> Config:
    return Config.fromfile(path)


def load_config(path: str) -> Config:
    """``Config.fromfile(path)``, parsed once per process.

    Args:
        path (str): The config file; a relative path is relative to the
            working directory (the repo root in tests), and parsed apart
            from its absolute form (``cfg.filename`` is the path given).

    Returns:
        Config: A deep copy of the parsed config, the caller's to change.
    """
    return copy.deepcopy(_parsed(path))
