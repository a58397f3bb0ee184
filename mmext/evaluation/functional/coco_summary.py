"""The 12 numbers of pycocotools' ``COCOeval.summarize``."""
from typing import Sequence

import numpy as np

#: the 12 numbers of ``COCOeval.summarize``, in order
COCO_STAT_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
                   'AR100', 'ARs', 'ARm', 'ARl')
#: pycocotools' ``areaRngLbl``: summarize looks area ranges up by label
COCO_AREA_LABELS = ('all', 'small', 'medium', 'large')


def check_max_dets(max_dets: Sequence[int]) -> list:
    """``max_dets`` as a sorted list of at least 3 positive ints, as
    pycocotools' ``summarize`` needs (it reads ``maxDets[2]``); its
    ``evaluate`` sorts ``maxDets``, so the last axis of the results and the
    AR stats follow the sorted order whatever order was given."""
    max_dets = list(max_dets)
    if len(max_dets) < 3 or any(
            isinstance(m, bool) or not isinstance(m, (int, np.integer))
            or m < 1 for m in max_dets):
        raise ValueError('max_dets must be at least 3 positive ints (as '
                         "pycocotools' summarize reads the third), got "
                         f'{max_dets!r}')
    return sorted(max_dets)


def _mean_valid(values: np.ndarray) -> float:
    """Mean of the entries above -1; -1 when there is none."""
    valid = values[values > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def summarize(precision: np.ndarray,
              recall: np.ndarray,
              iou_thrs: np.ndarray,
              max_dets: Sequence[int],
              area_labels: Sequence[str] = COCO_AREA_LABELS) -> np.ndarray:
    """The 12 stats of ``COCOeval.summarize``, with its lookups.

    As pycocotools: thresholds (0.5, 0.75), area labels and max-detection
    limits are looked up by value; AP (all thresholds) is read at 100
    detections, the other AP stats and AR100 / ARs / ARm / ARl at
    ``max_dets[2]``, AR1 / AR10 at ``max_dets[0]`` / ``max_dets[1]``.

    Args:
        precision (np.ndarray): ``(T, R, K, A, M)``.
        recall (np.ndarray): ``(T, K, A, M)``.
        iou_thrs (np.ndarray): The ``T`` thresholds.
        max_dets (Sequence[int]): The ``M`` limits, at least 3.
        area_labels (Sequence[str]): Label of each of the ``A`` area
            ranges. Defaults to ``('all', 'small', 'medium', 'large')``.

    Returns:
        np.ndarray: ``(12,)`` in :data:`COCO_STAT_NAMES` order, -1 where
        nothing was valid (or nothing matched a lookup).
    """
    iou_thrs = np.asarray(iou_thrs)
    limits = check_max_dets(max_dets)
    labels = list(area_labels)

    def stat(arr, ap, iou_thr=None, area='all', max_det=100):
        # pycocotools' index lists, paired by numpy fancy indexing
        area_idx = [i for i, lab in enumerate(labels) if lab == area]
        limit_idx = [i for i, m in enumerate(limits) if m == max_det]
        if iou_thr is not None:
            arr = arr[np.where(iou_thr == iou_thrs)[0]]
        arr = arr[:, :, :, area_idx, limit_idx] if ap else \
            arr[:, :, area_idx, limit_idx]
        return _mean_valid(arr)

    p, r, third = precision, recall, limits[2]
    return np.array([
        stat(p, 1), stat(p, 1, iou_thr=.5, max_det=third),
        stat(p, 1, iou_thr=.75, max_det=third),
        stat(p, 1, area='small', max_det=third),
        stat(p, 1, area='medium', max_det=third),
        stat(p, 1, area='large', max_det=third),
        stat(r, 0, max_det=limits[0]), stat(r, 0, max_det=limits[1]),
        stat(r, 0, max_det=third), stat(r, 0, area='small', max_det=third),
        stat(r, 0, area='medium', max_det=third),
        stat(r, 0, area='large', max_det=third)
    ])
