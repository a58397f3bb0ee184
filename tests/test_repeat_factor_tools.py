"""class_balance tool, the shipped RFS configs, and training with them."""
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from tests.helpers.config_cache import load_config
from tools.analysis import class_balance

TINY = 'configs/class_balanced/faster-rcnn_r18-tiny_fpn_tiny-voc0712_rfs.py'
VOC0712 = 'configs/class_balanced/faster-rcnn_r50_fpn_1x_voc0712_rfs.py'
DEMO = 'configs/faster_rcnn/faster-rcnn_r18-tiny_fpn_tiny-voc0712.py'


def test_tool_prints_table_and_saves_png(tmp_path, capsys):
    out = tmp_path / 'cb.png'
    table = class_balance.main([TINY, '--out', str(out)])
    printed = capsys.readouterr().out
    assert table in printed
    assert 'repeat r(c)' in table and 'aeroplane' in table
    assert 'length: 240 images -> ' in table
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_tool_previews_unwrapped_config(tmp_path):
    cfg = load_config(DEMO)
    wrapper = class_balance.build_balanced_dataset(
        cfg, oversample_thr=0.5, rounding='ceil')
    assert wrapper.rounding == 'ceil' and len(wrapper) > 240
    with pytest.raises(ValueError, match='no RepeatFactorDataset'):
        class_balance.build_balanced_dataset(load_config(DEMO))


def test_voc0712_config_wraps_mmdet_recipe():
    cfg = load_config(VOC0712)
    loader = cfg.train_dataloader
    assert loader.sampler.type == 'mmext.RepeatFactorSampler'
    assert loader.batch_sampler.type == 'AspectRatioBatchSampler'
    wrapper = loader.dataset
    assert wrapper.type == 'mmext.RepeatFactorDataset'
    assert wrapper.dataset.type == 'RepeatDataset'
    assert wrapper.dataset.times == 3
    concat = wrapper.dataset.dataset
    assert concat.type == 'ConcatDataset'
    assert [d.ann_file for d in concat.datasets] == [
        'VOC2007/ImageSets/Main/trainval.txt',
        'VOC2012/ImageSets/Main/trainval.txt'
    ]
    assert cfg.custom_imports.imports == ['mmext']
    assert cfg.default_scope == 'mmdet'


@pytest.mark.slow
def test_tiny_config_trains_two_epochs(tmp_path):
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = 'rfs_tiny_train'
    # 2 x 1 images, batches of 2: 2 epochs of 1-2 iterations on a CPU.
    for part in cfg.train_dataloader.dataset.dataset.dataset.datasets:
        part.indices = 1
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2)
    cfg.param_scheduler = []
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    runner = Runner.from_cfg(cfg)
    loader = runner.train_dataloader
    sampler = loader.batch_sampler.sampler
    assert type(sampler).__name__ == 'RepeatFactorSampler'
    assert type(loader.dataset).__name__ == 'RepeatFactorDataset'
    assert len(sampler) == loader.dataset.expected_length()
    seen = []
    original_iter = type(sampler).__iter__

    def recording_iter(self):
        seen.append(self.epoch)
        return original_iter(self)

    type(sampler).__iter__ = recording_iter
    try:
        runner.train()
    finally:
        type(sampler).__iter__ = original_iter
    assert runner.epoch == 2
    assert seen == [0, 1]  # mmengine told the sampler each epoch
