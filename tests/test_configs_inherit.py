import glob
import os.path as osp

import pytest
from mmengine.hub import get_config

from tests.helpers.config_cache import load_config
from tests.helpers.paths import DEMO_CONFIG, REPO_ROOT


def test_demo_config_inherits_mmdet_voc0712_recipe():
    cfg = load_config(DEMO_CONFIG)
    mmdet_cfg = get_config('mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py')
    # model and recipe come from mmdet's bases
    assert cfg.model.type == mmdet_cfg.model.type == 'FasterRCNN'
    assert cfg.model.rpn_head.type == mmdet_cfg.model.rpn_head.type
    assert cfg.model.roi_head.bbox_head.num_classes == 20
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports == dict(
        imports=['mmext'], allow_failed_imports=False)
    # VOC2007 + VOC2012 trainval through ConcatDataset, VOC2007 test
    concat = cfg.train_dataloader.dataset.dataset
    assert concat.type == 'ConcatDataset'
    assert [d.ann_file for d in concat.datasets] == [
        d.ann_file for d in mmdet_cfg.train_dataloader.dataset.dataset.datasets
    ]
    assert cfg.test_dataloader.dataset.ann_file == \
        mmdet_cfg.test_dataloader.dataset.ann_file
    # what the tiny config changes: model size, input scale, no pretraining
    assert cfg.model.backbone.depth == 18
    assert cfg.model.backbone.init_cfg is None
    assert cfg.train_dataloader.dataset.dataset.datasets[0].pipeline[2][
        'scale'] == (320, 256)


def _data_roots(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'data_root':
                yield value
            else:
                yield from _data_roots(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _data_roots(value)


CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py')))


@pytest.mark.parametrize('path', CONFIGS)
def test_data_roots_tiny_or_real(path):
    """Configs named *tiny* read only the shipped tiny data; the others
    only the real VOCdevkit, where tools/misc/download_voc.py puts it."""
    cfg = load_config(path).to_dict()
    roots = set(_data_roots({k: cfg[k] for k in cfg if 'dataloader' in k}))
    assert roots, path
    prefix = 'data/tiny/VOCdevkit' if 'tiny' in osp.basename(path) \
        else 'data/VOCdevkit'
    assert all(r.startswith(prefix) for r in roots), (path, roots)
