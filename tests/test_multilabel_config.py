"""The shipped multi-label configs: structure, registry wiring, and a short
train -> test run of the tiny variant through tools/train.py and
tools/test.py."""
import glob
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, METRICS, MODELS

from tests.conftest import REPO_ROOT, python_env
from tests.tiny_configs import write_short_config

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'multilabel')
R50 = osp.join(CONFIG_DIR, 'resnet50_8xb16_voc2007-multilabel.py')
R50_RFS = osp.join(CONFIG_DIR, 'resnet50_8xb16_voc2007-multilabel_rfs.py')
TINY = osp.join(CONFIG_DIR, 'resnet18-tiny_tiny-voc2007-multilabel.py')


def test_r50_config_structure():
    cfg = Config.fromfile(R50)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports == dict(
        imports=['mmext'], allow_failed_imports=False)
    assert cfg.train_dataloader.dataset.type == 'VOC'
    assert cfg.train_dataloader.dataset.data_root == 'data/VOCdevkit/VOC2007'
    assert cfg.val_dataloader.dataset.split == 'test'
    assert cfg.model.head.type == 'MultiLabelLinearClsHead'
    assert cfg.model.head.loss.type == 'mmext.MultiLabelAsymmetricLoss'
    assert cfg.val_evaluator.type == 'mmext.MultiLabelMetric'
    assert 'gt_label_difficult' in cfg.test_pipeline[-1].meta_keys
    rfs = Config.fromfile(R50_RFS)
    assert rfs.train_dataloader.dataset.type == 'mmext.RepeatFactorDataset'
    assert rfs.train_dataloader.dataset.dataset.type == 'VOC'


@pytest.mark.parametrize('config', [R50, TINY])
def test_build_parts_through_mmpretrain_registries(config):
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        metric = METRICS.build(cfg.val_evaluator)
        model_cfg = cfg.model.copy()
        model_cfg.backbone.init_cfg = None  # no download
        model = MODELS.build(model_cfg)
    assert type(metric).__module__ == 'mmext.evaluation.metrics.' \
        'multilabel_metric'
    assert type(model.head.loss_module).__name__ == 'MultiLabelAsymmetricLoss'


def test_rfs_wrapper_on_tiny_data():
    cfg = Config.fromfile(R50_RFS)
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.data_root == 'data/VOCdevkit/VOC2007'  # the real data
    inner.data_root = 'data/tiny/VOCdevkit/VOC2007'
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) >= 120  # 120 tiny trainval images, some repeated
    assert 'gt_label' in dataset[0]['data_samples']


def _run(*args):
    proc = subprocess.run([sys.executable, *args], cwd=REPO_ROOT,
                          env=python_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_tiny_config_trains_and_tests_with_the_tools(tmp_path):
    config = write_short_config(tmp_path, base=TINY, iters=2, val_images=20)
    work_dir = tmp_path / 'work'
    log = _run('tools/train.py', config, '--work-dir', str(work_dir))
    assert 'multi-label/mAP' in log and 'multi-label/CF1' in log
    assert '| aeroplane' in log  # the per-class table
    ckpt = sorted(glob.glob(str(work_dir / 'iter_*.pth')))[-1]
    log = _run('tools/test.py', config, ckpt, '--work-dir',
               str(tmp_path / 'test'))
    assert 'multi-label/OF1' in log
