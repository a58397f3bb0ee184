"""Multi-label data samples -> score and {-1, 0, 1} target arrays.

Used by the registered ``MultiLabelMetric`` (on the fly) and by
``tools/analysis/ml_thresholds.py`` (on the samples a ``tools/test.py --out
x.pkl`` pickle holds), so both read ground truth the same way:

* ``gt_score`` (one-hot, -1 = ignore) if present, else ``gt_label``
  (class indices);
* labels listed in ``gt_label_difficult`` (VOC data sets of mmpretrain)
  that no non-difficult object carries become -1, as in mmpretrain's
  ``VOCMultiLabelMetric``.
"""
from typing import Sequence, Tuple

import numpy as np
import torch

__all__ = ['sample_name', 'sample_score_target', 'stack_samples']


def sample_name(sample: dict, n: int) -> str:
    """``sample 'a.jpg'``, ``sample 12`` or ``sample #3 of the batch``."""
    if sample.get('img_path') is not None:
        return f"sample {sample['img_path']!r}"
    if sample.get('sample_idx') is not None:
        return f"sample {sample['sample_idx']}"
    return f'sample #{n} of the batch'


def _check_labels(sample: dict, n: int, num_classes: int) -> torch.Tensor:
    """The sample's ``gt_label`` as int64 indices in ``[0, num_classes)``.

    Raises:
        ValueError: Naming the sample and the label, on a label that is not
            an integer or lies outside the classes (-1 would mark the last
            class positive, C would raise a bare ``IndexError``).
    """
    labels = torch.as_tensor(sample['gt_label']).reshape(-1)
    if labels.is_floating_point() and bool(
        (labels != labels.round()).any() | ~labels.isfinite().all()):
        raise ValueError(f'{sample_name(sample, n)}: gt_label must hold '
                         f'class indices, got {labels.tolist()}')
    labels = labels.long()
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f'{sample_name(sample, n)}: gt_label {labels[bad][0].item()} '
            f'is outside the {num_classes} classes [0, {num_classes - 1}] '
            f'(gt_label {labels.tolist()})')
    return labels


def sample_score_target(sample: dict,
                        n: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The scores and the {-1, 0, 1} targets of one data sample.

    Args:
        sample (dict): With ``pred_score`` and ``gt_score`` or
            ``gt_label``, optionally ``gt_label_difficult``.
        n (int): Position of the sample, for messages.

    Returns:
        tuple[torch.Tensor, torch.Tensor]: CPU score and target, (C,) each.

    Raises:
        ValueError: Naming the sample, on a missing ``pred_score``, a
            ``gt_label`` outside the classes or not an integer, or a
            ``gt_score`` of another shape than ``pred_score``.
    """
    if 'pred_score' not in sample:
        raise ValueError(f'{sample_name(sample, n)} has no pred_score '
                         f'(keys {sorted(sample)})')
    score = torch.as_tensor(sample['pred_score']).detach().cpu().clone()
    if 'gt_score' in sample:
        target = torch.as_tensor(sample['gt_score']).detach().cpu().clone()
        if target.shape != score.shape:
            raise ValueError(
                f'{sample_name(sample, n)}: gt_score has shape '
                f'{tuple(target.shape)} but pred_score '
                f'{tuple(score.shape)}')
    else:
        target = torch.zeros(score.shape[-1])
        target[_check_labels(sample, n, score.shape[-1])] = 1
    difficult = sample.get('gt_label_difficult', None)
    if difficult is not None and len(difficult):
        difficult = torch.as_tensor(difficult).long()
        # a label that also has a non-difficult object stays positive
        target[difficult[target[difficult] != 1]] = -1
    return score, target


def stack_samples(
        pairs: Sequence[Tuple[torch.Tensor, torch.Tensor]]
) -> Tuple[np.ndarray, np.ndarray]:
    """Stack ``(score, target)`` pairs into float32 scores and targets.

    Args:
        pairs (Sequence[tuple]): From :func:`sample_score_target`.

    Returns:
        tuple[np.ndarray, np.ndarray]: (N, C) float32 scores and (N, C)
        targets.
    """
    scores = torch.stack([p[0] for p in pairs]).float().numpy()
    targets = torch.stack([p[1] for p in pairs]).numpy()
    return scores, targets
