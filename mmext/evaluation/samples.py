"""mmdet data samples -> one :class:`DetectionArrays` record (numpy only).

Two steps: :func:`sample_to_arrays` keeps the compact arrays of one data
sample (what a metric's ``process()`` stores and what ranks gather), and
:func:`concat_samples` flattens many of them into one record for
:mod:`mmext.evaluation.detection`. Values are passed on unchecked: the
functional core validates them and names the image at fault.
"""
from typing import List, Optional, Sequence

import numpy as np

from .functional.records import DetectionArrays

# per-sample arrays that every sample has
_REQUIRED = ('det_boxes', 'det_scores', 'det_labels', 'gt_boxes', 'gt_labels',
             'gt_ignore')
# per-sample arrays that are used only when every sample has them
_ALL_OR_NONE = ('gt_areas', 'gt_ids')


def _field(obj, key: str):
    """``obj[key]`` for dicts and ``InstanceData`` alike, or None."""
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None) if key in obj else None


def _numpy(x, dtype=None) -> np.ndarray:
    """A numpy copy of a tensor, an mmdet box type or an array-like."""
    if hasattr(x, 'tensor'):  # mmdet box types (HorizontalBoxes)
        x = x.tensor
    if hasattr(x, 'detach'):  # torch tensors, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def sample_to_arrays(data_sample: dict) -> dict:
    """Compact arrays of one mmdet data sample (predictions and GT).

    GT comes from ``gt_instances`` + ``ignored_instances`` (the test
    pipeline's ``LoadAnnotations``; mmdet marks VOC difficult boxes, boxes
    under ``bbox_min_size`` and COCO crowd boxes as ignored), or else from
    the raw ``instances`` list (``bbox``, ``bbox_label``, ``ignore_flag``,
    optional ``area``).

    Args:
        data_sample (dict): A data sample as given to ``process()``.

    Returns:
        dict: ``img_id``, ``det_boxes`` ``(N, 4)``, ``det_scores``,
        ``det_labels``, ``gt_boxes`` ``(G, 4)``, ``gt_labels``, ``gt_ignore``
        (bool) and ``gt_areas`` (or None). Regular GTs come first, ignored
        ones after.

    Raises:
        KeyError: When predictions or ground truth are missing, naming the
            image.
    """
    img_id = data_sample.get('img_id')
    pred = data_sample.get('pred_instances')
    if pred is None:
        raise KeyError(f'data sample of image {img_id!r} has no '
                       "'pred_instances'")
    out = dict(
        img_id=img_id,
        det_boxes=_numpy(pred['bboxes']).reshape(-1, 4),
        det_scores=_numpy(pred['scores']).reshape(-1),
        det_labels=_numpy(pred['labels']).reshape(-1),
        gt_areas=None)
    gt = data_sample.get('gt_instances')
    if gt is not None:
        out.update(_packed_gt(gt, data_sample.get('ignored_instances')))
        return out
    instances = data_sample.get('instances')
    if instances is None:
        raise KeyError(f'data sample of image {img_id!r} has neither '
                       "'gt_instances' nor 'instances': add LoadAnnotations "
                       'to the test pipeline')
    out.update(_raw_gt(instances))
    return out


def _packed_gt(gt, ignored) -> dict:
    """GT of ``PackDetInputs``: regular boxes first, ignored ones after
    (mmdet ``eval_map``'s order, which decides IoU ties between a regular
    and an ignored GT)."""
    boxes = [_numpy(gt['bboxes']).reshape(-1, 4)]
    labels = [_numpy(gt['labels']).reshape(-1)]
    if ignored is not None and _field(ignored, 'bboxes') is not None:
        boxes.append(_numpy(ignored['bboxes']).reshape(-1, 4))
        labels.append(_numpy(ignored['labels']).reshape(-1))
    gt_labels = np.concatenate(labels)
    return dict(
        gt_boxes=np.concatenate(boxes),
        gt_labels=gt_labels,
        gt_ignore=np.arange(len(gt_labels)) >= len(labels[0]))


def _raw_gt(instances: List[dict]) -> dict:
    """GT of a data set's raw ``instances`` list, in list order."""
    out = dict(
        gt_boxes=np.array([i['bbox'] for i in instances],
                          dtype=np.float64).reshape(-1, 4),
        gt_labels=np.array([i['bbox_label'] for i in instances],
                           dtype=np.int64),
        gt_ignore=np.array([bool(i.get('ignore_flag', 0)) for i in instances],
                           dtype=bool))
    if instances and all('area' in i for i in instances):
        out['gt_areas'] = np.array([i['area'] for i in instances], float)
    return out


def _check_unique_ids(ids: Sequence) -> None:
    seen = {}
    for i, img_id in enumerate(ids):
        if img_id in seen:
            raise ValueError(f'duplicate image id {img_id!r} (samples '
                             f'{seen[img_id]} and {i})')
        seen[img_id] = i


def _concat(samples: List[dict], key: str) -> np.ndarray:
    parts = [np.asarray(s[key]) for s in samples]
    if parts:
        return np.concatenate(parts)
    return np.zeros((0, 4) if key.endswith('boxes') else 0)


def _concat_optional(samples: List[dict], key: str) -> Optional[np.ndarray]:
    """``key`` over all samples, or None unless every sample has it."""
    if samples and all(s.get(key) is not None for s in samples):
        return np.concatenate([s[key] for s in samples])
    return None


def _crowd_flags(sample: dict) -> np.ndarray:
    if sample.get('gt_crowd') is not None:
        return np.asarray(sample['gt_crowd'], bool)
    return np.zeros(len(sample['gt_labels']), bool)


def concat_samples(samples: List[dict],
                   num_classes: int,
                   box_format: str = 'xyxy') -> DetectionArrays:
    """One record of the samples of :func:`sample_to_arrays`.

    Image ``i`` is ``samples[i]`` (its position breaks score ties). A
    sample's optional ``gt_crowd`` flags default to False; ``gt_areas`` and
    ``gt_ids`` are kept only when every sample has them.

    Args:
        samples (list[dict]): One dict per image.
        num_classes (int): Number of classes.
        box_format (str): ``'xyxy'`` (mmdet) or ``'xywh'`` (COCO json).
            Defaults to ``'xyxy'``.

    Returns:
        DetectionArrays: The flat record; ``img_ids`` are the samples'
        ``img_id``.

    Raises:
        ValueError: When two samples have the same ``img_id``.
    """
    ids = [s['img_id'] for s in samples]
    _check_unique_ids(ids)
    flat = {k: _concat(samples, k) for k in _REQUIRED}
    for prefix in ('det', 'gt'):
        flat[f'{prefix}_imgs'] = np.repeat(
            np.arange(len(samples)),
            [len(s[f'{prefix}_labels']) for s in samples])
    flat['gt_crowd'] = np.concatenate([np.zeros(0, bool)] +
                                      [_crowd_flags(s) for s in samples])
    for k in _ALL_OR_NONE:
        flat[k] = _concat_optional(samples, k)
    return DetectionArrays(
        num_classes=num_classes, img_ids=ids, box_format=box_format, **flat)
