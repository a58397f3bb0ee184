from mmengine.config import Config
from mmengine.hub import get_config

from tests.tiny_configs import DEMO_CONFIG


def test_demo_config_inherits_mmdet_voc0712_recipe():
    cfg = Config.fromfile(DEMO_CONFIG)
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
