"""mmext: fast, exact evaluation and training modules for OpenMMLab."""
from .utils import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
