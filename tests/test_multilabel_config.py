"""The shipped multi-label configs: structure, registry wiring, and a short
train -> test run of the tiny variant through tools/train.py and
tools/test.py, whose metrics equal mmpretrain's on the run's own dump."""
import os.path as osp
import pickle

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, METRICS, MODELS

from tests.helpers.config_cache import load_config
from tests.helpers.paths import (REPO_ROOT, TINY_MULTILABEL_CONFIG,
                                 VOC_CLASSES)
from tests.helpers.runs import MULTILABEL_ITERS

CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'multilabel')
R50 = osp.join(CONFIG_DIR, 'resnet50_8xb16_voc2007-multilabel.py')
R50_RFS = osp.join(CONFIG_DIR, 'resnet50_8xb16_voc2007-multilabel_rfs.py')
TINY = TINY_MULTILABEL_CONFIG


def test_r50_config_structure():
    cfg = load_config(R50)
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
    rfs = load_config(R50_RFS)
    assert rfs.train_dataloader.dataset.type == 'mmext.RepeatFactorDataset'
    assert rfs.train_dataloader.dataset.dataset.type == 'VOC'


@pytest.mark.parametrize('config', [R50, TINY])
def test_build_parts_through_mmpretrain_registries(config):
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        metric = METRICS.build(cfg.val_evaluator)
        model_cfg = cfg.model.copy()
        model_cfg.backbone.init_cfg = None  # no download
        model = MODELS.build(model_cfg)
    assert type(metric).__module__ == 'mmext.evaluation.metrics.' \
        'multilabel_metric'
    assert type(model.head.loss_module).__name__ == 'MultiLabelAsymmetricLoss'


def test_rfs_wrapper_on_tiny_data():
    cfg = load_config(R50_RFS)
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.data_root == 'data/VOCdevkit/VOC2007'  # the real data
    inner.data_root = 'data/tiny/VOCdevkit/VOC2007'
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) >= 120  # 120 tiny trainval images, some repeated
    assert 'gt_label' in dataset[0]['data_samples']


@pytest.mark.slow
def test_tiny_config_trains_and_tests_with_the_tools(tiny_multilabel):
    trained, tested = tiny_multilabel
    assert (trained.work_dir / f'iter_{MULTILABEL_ITERS}.pth').is_file()
    classes = Config.fromfile(tested.config).classes  # 6 of VOC's 20
    assert set(classes) < set(VOC_CLASSES)
    with open(tested.results_pkl, 'rb') as f:
        # labels of non-difficult objects (the metric ignores the others)
        present = {int(c) for d in pickle.load(f) for c in d['gt_label']
                   if c not in d['gt_label_difficult']}
    for run in (trained, tested):
        assert 'multi-label/mAP' in run.log and 'multi-label/CF1' in run.log
        # the per-class table: a row for each class with GT, and the mean
        assert '| mean ' in run.log
        assert all(f'| {classes[c]} ' in run.log for c in present)
    assert f'Load checkpoint from {tested.checkpoint}' in tested.log
    assert set(tested.metrics) >= {
        f'multi-label/{k}' for k in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1',
                                     'mAP')
    }


@pytest.mark.slow
def test_test_run_metrics_equal_mmpretrain_on_its_dump(tiny_multilabel):
    """What the test run's mmext.MultiLabelMetric logged equals mmpretrain's
    VOC metrics (difficult labels ignored, thr 0.5, percent) computed on the
    predictions the same run dumped. CF1 is the F1 of CP and CR (ML-GCN's
    definition); mmpretrain's macro f1-score is the mean of the per-class
    F1 instead (mmext's 'macro-F1')."""
    from mmpretrain.evaluation.metrics import (VOCAveragePrecision,
                                               VOCMultiLabelMetric)
    _, tested = tiny_multilabel
    with open(tested.results_pkl, 'rb') as f:
        dump = pickle.load(f)
    assert len(dump) == 20
    assert any(len(d['gt_label_difficult']) for d in dump)

    def mmpretrain(metric):
        metric.process(None, dump)
        return metric.evaluate(len(dump))

    macro = mmpretrain(VOCMultiLabelMetric(thr=0.5))
    micro = mmpretrain(VOCMultiLabelMetric(thr=0.5, average='micro'))
    ap = mmpretrain(VOCAveragePrecision())
    cp, cr = macro['multi-label/precision'], macro['multi-label/recall']
    expected = {
        'CP': cp,
        'CR': cr,
        'CF1': 2 * cp * cr / (cp + cr),
        'OP': micro['multi-label/precision_micro'],
        'OR': micro['multi-label/recall_micro'],
        'OF1': micro['multi-label/f1-score_micro'],
        'mAP': ap['multi-label/mAP'],
    }
    logged = {k: tested.metrics[f'multi-label/{k}'] for k in expected}
    # mmpretrain computes in float32
    assert logged == pytest.approx(expected, abs=1e-4)
    assert 0 < logged['mAP'] < 100
