"""Run a function once a module has been imported, without importing it.

``import mmext`` must stay light (no torch: ``import torch`` alone costs
seconds) yet the restricted checkpoint globals must be in place before any
``torch.load``. :func:`call_after_import` runs the set-up at once when the
module is already loaded (configs' ``custom_imports``, the Runner), else
right after the module's own import finishes, through a finder on
``sys.meta_path`` that wraps the loader for that one import and then
removes itself. Only the standard library is used here.
"""
import importlib.util
import sys
import threading
from importlib.abc import MetaPathFinder
from typing import Callable, Optional, Sequence


class _RunAfterExec:
    """A module loader that runs callbacks after the real loader's
    ``exec_module``; every other attribute is the real loader's."""

    def __init__(self, loader, callbacks: Sequence[Callable[[], None]]):
        self._loader = loader
        self._callbacks = callbacks

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        # the module keeps its real loader (importlib.resources, inspect,
        # reload read it), as if no hook had been there
        module.__loader__ = self._loader
        if getattr(module, '__spec__', None) is not None:
            module.__spec__.loader = self._loader
        for callback in self._callbacks:
            callback()


class _AfterImportFinder(MetaPathFinder):
    """Finds nothing itself; wraps the loader of ``name`` once."""

    def __init__(self, name: str):
        self.name = name
        self.callbacks = []
        self._lock = threading.Lock()

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != self.name:
            return None
        with self._lock:
            if self not in sys.meta_path:
                return None  # another thread's import got here first
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None \
                or not hasattr(spec.loader, 'exec_module'):
            return spec
        spec.loader = _RunAfterExec(spec.loader, self.callbacks)
        return spec


def _pending_finder(name: str) -> Optional[_AfterImportFinder]:
    for finder in sys.meta_path:
        if isinstance(finder, _AfterImportFinder) and finder.name == name:
            return finder
    return None


def call_after_import(name: str, callback: Callable[[], None]) -> None:
    """Call ``callback()`` now if top-level module ``name`` is imported,
    else right after its import completes (once).

    An exception raised by ``callback`` propagates out of that import
    statement, so a failed set-up is never silent.

    Args:
        name (str): A top-level module name, e.g. ``'torch'``.
        callback (Callable[[], None]): What to run.
    """
    if '.' in name:
        raise ValueError(f'call_after_import takes a top-level module, got '
                         f'{name!r}')
    module = sys.modules.get(name)
    if module is not None:
        spec = getattr(module, '__spec__', None)
        if not getattr(spec, '_initializing', False):
            callback()
            return
        # imported while ``name`` itself is still being imported: the
        # callback would see a half-initialised module
        raise RuntimeError(f'{name} is still being imported; import it '
                           'before mmext')
    finder = _pending_finder(name)
    if finder is None:
        finder = _AfterImportFinder(name)
        sys.meta_path.insert(0, finder)
    finder.callbacks.append(callback)
