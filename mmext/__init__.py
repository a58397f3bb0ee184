"""mmext: fast, exact evaluation and training modules for OpenMMLab.

``import mmext`` only installs the restricted globals that let
``torch.load(weights_only=True)`` read mmengine checkpoints
(:mod:`mmext.utils.checkpoint`). Modules register on demand: the mmext
registries import them through their ``locations`` when a config names
``type='mmext.X'``.
"""
from .utils.checkpoint import allow_mmengine_checkpoints
from .utils.config_path import get_config_path
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__', 'get_config_path']
