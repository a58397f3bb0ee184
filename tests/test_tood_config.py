"""The TOOD configs build and the tiny one trains through mmext's modules."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmext.models.losses import AlignedIoULoss, AlignedQualityFocalLoss
from mmext.models.task_modules import TaskAlignedAssigner

TINY = 'configs/tood/tood_r18-tiny_fpn_tiny-voc0712.py'
FULL = 'configs/tood/tood_r50_fpn_1x_voc0712.py'


@pytest.mark.parametrize('path', [FULL, TINY])
def test_config_uses_mmext_modules(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports == dict(imports=['mmext'],
                                      allow_failed_imports=False)
    head = cfg.model.bbox_head
    assert head.num_classes == 20
    assert head.loss_cls.type == 'mmext.AlignedQualityFocalLoss'
    assert head.loss_bbox.type == 'mmext.AlignedIoULoss'
    assert cfg.model.train_cfg.assigner == dict(
        type='mmext.TaskAlignedAssigner', topk=13)
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    if path == TINY:
        assert cfg.val_evaluator == dict(type='mmext.DetectionAP',
                                         metric=('voc07', 'coco'))
        assert cfg.model.train_cfg.initial_epoch <= 1  # short ATSS warm-up
    else:
        assert cfg.val_evaluator.eval_mode == '11points'


def test_tiny_config_trains(tmp_path, voc_root):
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path)
    # two iterations with the task-aligned stage active from the start
    cfg.model.train_cfg.initial_epoch = 0
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2,
                         val_interval=100)
    cfg.param_scheduler = []
    cfg.train_dataloader.batch_size = 2
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    init_default_scope('mmdet')
    runner = Runner.from_cfg(cfg)
    head = runner.model.bbox_head
    assert isinstance(head.alignment_assigner, TaskAlignedAssigner)
    assert isinstance(head.loss_cls, AlignedQualityFocalLoss)
    assert isinstance(head.loss_bbox, AlignedIoULoss)
    # one thread: OpenMP threads slow down badly on a shared, busy CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner.train()
    finally:
        torch.set_num_threads(threads)
    scalars = runner.message_hub.log_scalars
    assert scalars['train/loss_cls'].current() > 0
    assert scalars['train/loss_bbox'].current() >= 0
