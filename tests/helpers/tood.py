"""Builders shared by the TOOD head tests and benchmarks: a pair of
detectors (mmext head + assigner vs mmdet's) with equal weights, random
batches of images and GTs, and the epoch the TOOD head reads."""
import copy
import uuid
from contextlib import contextmanager

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

TINY = 'configs/tood/tood_r18-tiny_fpn_tiny-voc0712.py'
FULL = 'configs/tood/tood_r50_fpn_1x_voc0712.py'
MMDET_LOSSES = dict(
    loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, activated=True,
                  beta=2.0, loss_weight=1.0),
    loss_bbox=dict(type='GIoULoss', loss_weight=2.0))


def model_configs(path: str = TINY, mmdet_losses: bool = True) -> tuple:
    """(mmext, mmdet) model configs of a TOOD config: the mmext one as
    shipped (``mmdet_losses``: with mmdet's losses instead), the mmdet one
    with mmdet's head, assigner and losses."""
    model = Config.fromfile(path).model
    model.backbone.init_cfg = None  # no download of pretrained weights
    ours = copy.deepcopy(model)
    if mmdet_losses:
        for key, loss in MMDET_LOSSES.items():
            ours.bbox_head[key] = copy.deepcopy(loss)
    ref = copy.deepcopy(model)
    ref.bbox_head.type = 'TOODHead'
    for key, loss in MMDET_LOSSES.items():
        ref.bbox_head[key] = copy.deepcopy(loss)
    ref.train_cfg.assigner = dict(type='TaskAlignedAssigner', topk=13)
    return ours, ref


def build_pair(path: str = TINY, mmdet_losses: bool = True,
               seed: int = 0) -> tuple:
    """(mmext, mmdet) detectors with the same weights, in train mode."""
    ours_cfg, ref_cfg = model_configs(path, mmdet_losses)
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.manual_seed(seed)
        ref = MODELS.build(ref_cfg)
        ours = MODELS.build(ours_cfg)
    ref.init_weights()
    ours.load_state_dict(ref.state_dict())
    return ours.train(), ref.train()


def random_batch(seed: int, num_gts, shape=(256, 320), num_classes=20):
    """Normalised random images and data samples with ``num_gts[i]``
    random GTs each (some small, some image-sized)."""
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    inputs = torch.randn(len(num_gts), 3, h, w, generator=g)
    samples = []
    for n in num_gts:
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w, h])
        wh = torch.rand(n, 2, generator=g) ** 2 * torch.tensor([w, h]) + 4
        boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1)
        boxes = torch.minimum(boxes.clamp(min=0),
                              torch.tensor([w, h, w, h], dtype=torch.float))
        sample = DetDataSample(metainfo=dict(
            img_shape=shape, pad_shape=shape, batch_input_shape=shape,
            ori_shape=shape, scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=boxes,
            labels=torch.randint(0, num_classes, (n, ), generator=g))
        samples.append(sample)
    return inputs, samples


@contextmanager
def training_epoch(epoch: int):
    """A current MessageHub whose ``epoch`` the TOOD head reads (removed
    afterwards)."""
    name = f'tood-head-{uuid.uuid4().hex}'
    hub = MessageHub.get_instance(name)
    hub.update_info('epoch', epoch)
    try:
        yield hub
    finally:
        MessageHub._instance_dict.pop(name, None)
