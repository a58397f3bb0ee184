"""The tiny VOC2007 test set (60 images, with difficult boxes) and data
samples with predictions for it, as a Runner hands them to a metric."""
import copy

import numpy as np

from tests.helpers.paths import TINY_VOC_DATASET_CONFIG


def voc_test_dataset(config: str = TINY_VOC_DATASET_CONFIG):
    """The test set of ``config`` with its GT pipeline only (no image
    decoding: only annotations are needed to evaluate)."""
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    ds_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    ds_cfg.pipeline = [
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=('img_id', ))
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(ds_cfg)


def predicted_samples(dataset, seed: int = 0) -> list:
    """Data samples of ``dataset`` as the Runner gives them to metrics
    (``to_dict()``), with predictions: every GT (difficult ones included)
    jittered by 3 pixels, plus 3 random false positives per image, random
    scores."""
    import torch
    from mmengine.structures import InstanceData
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(len(dataset)):
        ds = dataset[i]['data_samples']
        gt = torch.cat([
            ds.gt_instances.bboxes.tensor, ds.ignored_instances.bboxes.tensor
        ])
        lab = torch.cat([ds.gt_instances.labels, ds.ignored_instances.labels])
        n = len(gt)
        boxes = gt.numpy().astype(np.float64) + rng.normal(0, 3, (n, 4))
        fp = rng.uniform(0, 150, (3, 2))
        boxes = np.concatenate([boxes, np.hstack([fp, fp + 30])])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        labels = np.concatenate([lab.numpy(), rng.integers(0, 20, 3)])
        ds.pred_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            scores=torch.tensor(rng.random(len(boxes)), dtype=torch.float32),
            labels=torch.tensor(labels))
        samples.append(ds.to_dict())
    return samples
