"""The VOC0712 configs equal mmdet's except for their documented changes."""
import os.path as osp

import mmdet
import pytest
from mmengine.config import Config

from mmext.datasets.config_check import check_dataset_config
from mmext.datasets.nested import leaf_datasets

MMDET_CFG = osp.join(
    osp.dirname(mmdet.__file__), '.mim', 'configs', 'pascal_voc',
    'faster-rcnn_r50_fpn_1x_voc0712.py')
MAIN = 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_voc0712.py'
NO_MIN = ('configs/faster_rcnn/'
          'faster-rcnn_r50_fpn_1x_voc0712_no-bbox-min-size.py')
RFS = 'configs/class_balanced/faster-rcnn_r50_fpn_1x_voc0712_rfs.py'
EVALUATOR = dict(type='mmext.DetectionAP', metric=('voc07', 'coco'))
CUSTOM_IMPORTS = dict(imports=['mmext'], allow_failed_imports=False)


@pytest.fixture(scope='module')
def mmdet_cfg() -> dict:
    return load(MMDET_CFG)


def _drop_scope(obj):
    """Configs inherited through ``mmdet::`` tag their dicts with
    ``_scope_='mmdet'``, which their ``default_scope='mmdet'`` implies."""
    if isinstance(obj, dict):
        return {k: _drop_scope(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_drop_scope(v) for v in obj)
    return obj


def load(path: str) -> dict:
    return _drop_scope(Config.fromfile(path).to_dict())


def assert_same_except(cfg: dict, ref: dict, changed: set) -> None:
    """Every top-level key but ``changed`` equals ``ref``'s."""
    assert set(cfg) - changed == set(ref) - changed
    for key in set(ref) - changed:
        assert cfg[key] == ref[key], key


def assert_durable_checkpoints(cfg: dict, ref: dict) -> None:
    """mmext's crash-safe checkpoint hook, with ``ref``'s options."""
    hooks, ref_hooks = cfg['default_hooks'], ref['default_hooks']
    assert_same_except(hooks, ref_hooks, {'checkpoint'})
    assert hooks['checkpoint'] == dict(
        ref_hooks['checkpoint'], type='mmext.DurableCheckpointHook')


def train_leaves(cfg: dict) -> list:
    return list(leaf_datasets(cfg['train_dataloader']['dataset']))


def test_main_config_changes_the_evaluator_and_checkpoint_hook(mmdet_cfg):
    cfg = load(MAIN)
    assert_same_except(
        cfg, mmdet_cfg,
        {'val_evaluator', 'test_evaluator', 'custom_imports', 'default_hooks',
         'custom_hooks'})
    assert_durable_checkpoints(cfg, mmdet_cfg)
    assert cfg['custom_hooks'] == [dict(type='mmext.MetricWorkDirHook')]
    assert cfg['val_evaluator'] == cfg['test_evaluator'] == EVALUATOR
    assert cfg['custom_imports'] == CUSTOM_IMPORTS
    # spelled out: what "equal to mmdet's" covers here
    assert cfg['model']['roi_head']['bbox_head']['num_classes'] == 20
    assert [leaf['ann_file'] for leaf in train_leaves(cfg)] == [
        'VOC2007/ImageSets/Main/trainval.txt',
        'VOC2012/ImageSets/Main/trainval.txt'
    ]
    assert cfg['train_dataloader']['dataset']['times'] == 3
    assert cfg['test_dataloader']['dataset']['ann_file'] == (
        'VOC2007/ImageSets/Main/test.txt')
    assert cfg['train_cfg']['max_epochs'] == 4
    assert cfg['optim_wrapper']['optimizer']['lr'] == 0.01
    assert cfg['auto_scale_lr'] == dict(enable=False, base_batch_size=16)


def test_main_config_evaluator_is_registered():
    from mmext.registry import METRICS
    metric = METRICS.build(EVALUATOR)
    assert metric.__class__.__name__ == 'DetectionAP'


def test_no_bbox_min_size_variant(mmdet_cfg):
    cfg = load(NO_MIN)
    expected = load(MAIN)
    for leaf in train_leaves(expected):
        assert leaf['filter_cfg'].pop('bbox_min_size') == 32
    assert_same_except(cfg, expected, {'voc0712_trainval'})
    assert [leaf['filter_cfg'] for leaf in train_leaves(cfg)] == [
        dict(filter_empty_gt=True, min_size=32)
    ] * 2


def test_class_balanced_variant(mmdet_cfg):
    cfg = load(RFS)
    assert_same_except(cfg, mmdet_cfg,
                       {'train_dataloader', 'custom_imports', 'default_hooks'})
    assert_durable_checkpoints(cfg, mmdet_cfg)
    loader, ref = cfg['train_dataloader'], mmdet_cfg['train_dataloader']
    assert_same_except(loader, ref, {'dataset', 'sampler'})
    # the wrapper goes around mmdet's training set, unchanged
    assert loader['dataset']['dataset'] == ref['dataset']
    assert loader['dataset']['type'] == 'mmext.RepeatFactorDataset'
    assert loader['sampler']['type'] == 'mmext.RepeatFactorSampler'


def on_tiny_data(node):
    """The config with its real VOC data roots moved to the shipped tiny
    data (same layout as the real VOCdevkit)."""
    if isinstance(node, dict):
        return {
            k: v.replace('data/VOCdevkit', 'data/tiny/VOCdevkit', 1)
            if k == 'data_root' else on_tiny_data(v)
            for k, v in node.items()
        }
    if isinstance(node, (list, tuple)):
        return type(node)(on_tiny_data(v) for v in node)
    return node


def test_data_check_walks_the_configs():
    small = {}
    for path in (MAIN, NO_MIN):
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.dataset.datasets[0].data_root \
            == 'data/VOCdevkit/'
        reports = check_dataset_config(
            Config(on_tiny_data(cfg.to_dict())), splits=['train'],
            quick=True)
        assert [r.split_file for r in reports.values()] == [
            'data/tiny/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
            'data/tiny/VOCdevkit/VOC2012/ImageSets/Main/trainval.txt'
        ]
        small[path] = sum(sum(r.small.values()) for r in reports.values())
    assert small[MAIN] > 0 and small[NO_MIN] == 0
