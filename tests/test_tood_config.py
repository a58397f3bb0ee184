"""The TOOD configs build and the tiny one trains through mmext's modules."""
import os.path as osp

import mmdet
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmext.models.dense_heads import TOODHead
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
    assert head.type == 'mmext.TOODHead'
    assert cfg.train_dataloader.dataset.type == 'RepeatDataset'
    assert cfg.val_evaluator == dict(type='mmext.DetectionAP',
                                     metric=('voc07', 'coco'))
    if path == TINY:
        assert cfg.model.train_cfg.initial_epoch <= 1  # short ATSS warm-up


def test_tiny_config_is_the_voc0712_recipe_on_the_tiny_data():
    """The tiny config adapts the base's recipe: same structure and splits
    as mmdet's VOC0712 data config, tiny root, scale and box filter."""
    mmdet_voc = Config.fromfile(
        osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', '_base_',
                 'datasets', 'voc0712.py'))
    full, tiny = Config.fromfile(FULL), Config.fromfile(TINY)
    ref_sets = mmdet_voc.train_dataloader.dataset.dataset.datasets
    for cfg, root, scale, min_size in ((full, 'data/VOCdevkit/', (1000, 600),
                                        32),
                                       (tiny, 'data/tiny/VOCdevkit/',
                                        (320, 256), 8)):
        sets = cfg.train_dataloader.dataset.dataset.datasets
        assert [d.ann_file for d in sets] == [d.ann_file for d in ref_sets]
        for d in (*sets, cfg.val_dataloader.dataset):
            assert d.data_root == root
            resize = [s for s in d.pipeline if s.type == 'Resize']
            assert [s.scale for s in resize] == [scale]
        assert all(d.filter_cfg.bbox_min_size == min_size for d in sets)
        assert cfg.val_dataloader.dataset.ann_file == \
            mmdet_voc.val_dataloader.dataset.ann_file
    assert full.train_dataloader.dataset.times == 3
    assert tiny.train_dataloader.dataset.times == 1
    assert 'seed' not in open(TINY).read().split('_base_')[0]  # no history


@pytest.mark.slow
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
    # one thread: OpenMP threads slow down badly on a shared, busy CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # scoped: the Runner's default scope is gone after the block
    with DefaultScope.overwrite_default_scope('mmdet'):
        try:
            runner = Runner.from_cfg(cfg)
            head = runner.model.bbox_head
            assert isinstance(head, TOODHead)
            assert isinstance(head.alignment_assigner, TaskAlignedAssigner)
            assert isinstance(head.loss_cls, AlignedQualityFocalLoss)
            assert isinstance(head.loss_bbox, AlignedIoULoss)
            runner.train()
        finally:
            torch.set_num_threads(threads)
    scalars = runner.message_hub.log_scalars
    assert scalars['train/loss_cls'].current() > 0
    assert scalars['train/loss_bbox'].current() >= 0
