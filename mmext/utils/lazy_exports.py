"""Package attributes imported on first access (PEP 562), so that
``from mmext.datasets import RepeatFactorDataset`` keeps working while
``import mmext.datasets`` itself loads neither torch nor mmengine."""
import importlib
from typing import Callable, Dict


def lazy_exports(package: str, exports: Dict[str, str]) -> Callable:
    """A module ``__getattr__`` that imports ``exports[name]`` on demand.

    Args:
        package (str): The package's ``__name__``.
        exports (dict): Attribute name -> module path relative to
            ``package`` (e.g. ``'.samplers'``).

    Returns:
        Callable: Assign it to the package's ``__getattr__``.
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(
                f'module {package!r} has no attribute {name!r}')
        return getattr(importlib.import_module(exports[name], package), name)

    return __getattr__
