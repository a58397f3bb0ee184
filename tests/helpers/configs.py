"""Short-schedule variants of the shipped configs, for tests of the tools."""
from typing import Optional

from tests.helpers.paths import DEMO_CONFIG


def write_short_config(tmp_path, base: str = DEMO_CONFIG, iters: int = 4,
                       val_images: int = 8, val_batch_size: int = 2,
                       val_interval: Optional[int] = None,
                       ckpt_interval: int = 2, max_keep_ckpts: int = -1,
                       extra: str = '') -> str:
    """Write a config inheriting ``base`` that trains ``iters`` iterations.

    Args:
        tmp_path: A folder (``pathlib.Path``) for ``short_config.py``.
        base (str): The config to inherit.
        iters (int): Training iterations.
        val_images (int): Images of the validation and test sets (the
            first ones of the test split).
        val_batch_size (int): Their batch size; 1 makes a detector's
            outputs independent of how the images are split among
            processes (no padding to a batch-mate's size).
        val_interval (int, optional): Validate every so many iterations.
            Defaults to ``iters`` (once, at the end).
        ckpt_interval (int): Save a checkpoint every so many iterations
            (and after the last).
        max_keep_ckpts (int): Checkpoints kept; -1 keeps all.
        extra (str): Config lines appended as they are; they must not
            assign a variable set above (that would replace it whole).

    Returns:
        str: The path of the config.
    """
    path = tmp_path / 'short_config.py'
    path.write_text(f"""
_base_ = {base!r}
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters={iters},
    val_interval={val_interval or iters})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size={val_batch_size},
                      dataset=dict(indices={val_images}))
test_dataloader = val_dataloader
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval={ckpt_interval},
                    max_keep_ckpts={max_keep_ckpts}))
log_processor = dict(by_epoch=False)
""" + extra)
    return str(path)
