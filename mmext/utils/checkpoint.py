"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default. A checkpoint that an
mmengine ``Runner`` writes also holds its message hub (``HistoryBuffer``) and
numpy arrays and scalars, so ``load_from``, ``--resume`` and mmdet's own
``tools/test.py`` fail with ``UnpicklingError: Weights only load failed``.
Allow-listing exactly these globals keeps the safe loader (no arbitrary
pickles) and needs nothing from the user: it runs on ``import mmext``, which
configs trigger through ``custom_imports`` or a ``type='mmext.X'`` entry.
"""
import builtins

import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """Return the non-tensor globals an mmengine Runner checkpoint holds.

    Returns:
        list: Objects to pass to ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = np.core.multiarray
    return [
        HistoryBuffer, np.dtype, np.ndarray, multiarray._reconstruct,
        multiarray.scalar, builtins.getattr
    ] + [type(np.dtype(code)) for code in np.typecodes['All']]


def allow_mmengine_checkpoints() -> None:
    """Allow-list mmengine checkpoint globals for the safe ``torch.load``."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch < 2.4 loads unrestricted anyway
        add_safe_globals(mmengine_checkpoint_globals())
