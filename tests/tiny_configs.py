"""Short-schedule variants of the shipped configs, for tests of the tools."""
import os.path as osp

from tests.conftest import REPO_ROOT

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'faster_rcnn',
                       'faster-rcnn_r18-tiny_fpn_tiny-voc0712.py')


def write_short_config(tmp_path, base: str = DEMO_CONFIG, iters: int = 4,
                       val_images: int = 8) -> str:
    """Write a config inheriting ``base`` that trains ``iters`` iterations.

    Checkpoints are saved every 2 iterations; validation and test use the
    first ``val_images`` images of the test split.
    """
    path = tmp_path / 'short_config.py'
    path.write_text(f"""
_base_ = {base!r}
train_cfg = dict(
    _delete_=True, type='IterBasedTrainLoop', max_iters={iters},
    val_interval={iters})
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=2, dataset=dict(indices={val_images}))
test_dataloader = val_dataloader
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1))
log_processor = dict(by_epoch=False)
""")
    return str(path)
