"""mmext: fast, exact evaluation and training modules for OpenMMLab.

``import mmext`` registers nothing eagerly and imports neither torch nor
mmengine: the mmext registries import their modules through ``locations``
when a config names ``type='mmext.X'``. It only makes sure that the
restricted globals that let ``torch.load(weights_only=True)`` read mmengine
checkpoints (:mod:`mmext.utils.checkpoint`) are installed before any load:
at once when torch is already imported, else right after torch's import.
"""
import importlib

from .utils.config_path import get_config_path
from .utils.import_hooks import call_after_import
from .version import __version__


def _install_checkpoint_globals() -> None:
    # Importing the module installs them (its last statement). When that
    # module is itself what imports torch first, this returns it half
    # initialised, and its last statement does the work a moment later.
    importlib.import_module('mmext.utils.checkpoint')


call_after_import('torch', _install_checkpoint_globals)

__all__ = ['__version__', 'get_config_path']
