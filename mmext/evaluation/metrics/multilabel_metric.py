"""Registered multi-label metric: CP/CR/CF1, OP/OR/OF1 and mAP."""
import math
import numbers
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmext.evaluation.functional.multilabel import (
    multilabel_best_f1_thresholds, multilabel_metrics)
from mmext.registry import METRICS
from mmext.visualization import format_table

_ITEMS = ('CP', 'CR', 'CF1', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP', 'best-F1')


def _sample_name(sample: dict, n: int) -> str:
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
        raise ValueError(f'{_sample_name(sample, n)}: gt_label must hold '
                         f'class indices, got {labels.tolist()}')
    labels = labels.long()
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f'{_sample_name(sample, n)}: gt_label {labels[bad][0].item()} '
            f'is outside the {num_classes} classes [0, {num_classes - 1}] '
            f'(gt_label {labels.tolist()})')
    return labels


@METRICS.register_module()
class MultiLabelMetric(BaseMetric):
    """Per-class (C) and overall (O) precision, recall, F1, and mAP.

    CP / CR are the means over classes of per-class precision / recall and
    CF1 = 2 * CP * CR / (CP + CR); ``macro-F1`` is the mean of per-class F1s
    (what mmpretrain's ``MultiLabelMetric`` reports as f1-score). OP / OR /
    OF1 use the counts summed over classes. ``mAP`` is the non-interpolated
    mean AP of mmpretrain's ``AveragePrecision``; ``best-F1`` is the mean of
    per-class F1 at each class's best threshold (an oracle upper bound).
    Values are in percent, as mmpretrain's multi-label metrics (the
    functional core returns fractions). See
    :mod:`mmext.evaluation.functional.multilabel` for conventions on empty
    classes.

    Ground truth is ``gt_score`` (one-hot; -1 = ignore) if present, else
    ``gt_label`` (indices). Labels listed in ``gt_label_difficult`` (VOC
    data sets of mmpretrain) that no non-difficult object carries are
    ignored, as in mmpretrain's ``VOCMultiLabelMetric``. A per-class table is
    logged.

    Keys are ``'{prefix}/{item}'`` with the default prefix ``multi-label``
    (the one mmpretrain's multi-label metrics use); threshold-dependent items
    get mmpretrain's suffixes: none for ``thr=0.5``, ``_thr-0.30`` for other
    thresholds, ``_top3`` for ``topk=3``.

    As mmpretrain's ``MultiLabelMetric``: given both ``thr`` and ``topk``,
    ``thr`` wins and mmpretrain's warning is logged. Unlike it, ``thr=0.0``
    names its keys ``_thr-0.00`` (mmpretrain computes at 0.0 but names them
    ``_top<topk>``, ``_topNone`` without ``topk``).

    Stricter than mmpretrain (a ``ValueError`` where it asserts, raises a
    bare ``RuntimeError`` or silently returns zeros): ``thr`` NaN or not a
    number, ``topk < 1``, an unknown item, and in :meth:`process` a
    ``gt_label`` outside ``[0, C)`` (-1 included) or not an integer, or a
    ``gt_score`` whose shape differs from ``pred_score``'s; the message
    names the sample (``img_path``, else ``sample_idx``) and the label.

    Args:
        thr (float, optional): Predict a label when its score is ``>= thr``.
            Defaults to None, which means 0.5 unless ``topk`` is given.
        topk (int, optional): Predict the ``topk`` highest-scoring labels of
            each sample instead of thresholding; ignored (with a warning)
            when ``thr`` is given too. Defaults to None.
        items (Sequence[str]): Items to report, from ``'CP', 'CR', 'CF1',
            'macro-F1', 'OP', 'OR', 'OF1', 'mAP', 'best-F1'``. Defaults to
            ``('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'mAP')``.
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the keys. Defaults to None, i.e.
            ``'multi-label'``.

    Example:
        In an mmpretrain config (``default_scope='mmpretrain'``)::

            custom_imports = dict(imports=['mmext'],
                                  allow_failed_imports=False)
            val_evaluator = dict(
                type='mmext.MultiLabelMetric', thr=0.5,
                items=('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'mAP'))
    """
    default_prefix: Optional[str] = 'multi-label'

    def __init__(self,
                 thr: Optional[float] = None,
                 topk: Optional[int] = None,
                 items: Sequence[str] = ('CP', 'CR', 'CF1', 'OP', 'OR',
                                         'OF1', 'mAP'),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if thr is not None and (isinstance(thr, bool)
                                or not isinstance(thr, numbers.Real)
                                or math.isnan(thr)):
            raise ValueError(f'thr must be a number (not NaN), got {thr!r}')
        if topk is not None and (isinstance(topk, bool)
                                 or not isinstance(topk, numbers.Integral)
                                 or topk < 1):
            raise ValueError(f'topk must be an int >= 1, got {topk!r}')
        if thr is not None and topk is not None:
            # mmpretrain's behaviour and message
            MMLogger.get_current_instance().warning(
                'Both thr and topk are given, use threshold in favor of '
                'top-k.')
            topk = None
        unknown = set(items) - set(_ITEMS)
        if unknown or not items:
            raise ValueError(
                f'unknown items {sorted(unknown)}; choose from {_ITEMS}')
        self.thr = 0.5 if thr is None and topk is None else thr
        self.topk = topk
        self.items = tuple(items)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the scores and the {-1, 0, 1} targets of each sample.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs with
                ``pred_score`` and ``gt_score`` or ``gt_label``, and
                optionally ``gt_label_difficult``.
        """
        for n, sample in enumerate(data_samples):
            score = torch.as_tensor(sample['pred_score']).detach().cpu()
            if 'gt_score' in sample:
                target = torch.as_tensor(sample['gt_score']).detach().cpu()
                target = target.clone()
                if target.shape != score.shape:
                    raise ValueError(
                        f'{_sample_name(sample, n)}: gt_score has shape '
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
            self.results.append((score.clone(), target))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Compute the requested items over all collected samples.

        Args:
            results (list): ``(pred_score, target)`` pairs from all ranks.

        Returns:
            dict[str, float]: Items in percent.
        """
        scores = torch.stack([r[0] for r in results]).float().numpy()
        targets = torch.stack([r[1] for r in results]).numpy()
        # AP is always computed: the per-class table shows it.
        stats = multilabel_metrics(
            scores, targets, thr=self.thr, topk=self.topk)
        thrs = None
        if 'best-F1' in self.items:
            thrs, best = multilabel_best_f1_thresholds(scores, targets)
            stats['best-F1'] = float(best.mean())

        self._log_table(stats, thrs)
        suffix = (f'_top{self.topk}' if self.topk is not None else
                  '' if self.thr == 0.5 else f'_thr-{self.thr:.2f}')
        threshold_free = ('mAP', 'best-F1')
        return {
            item + ('' if item in threshold_free else suffix):
            100 * float(stats[item])
            for item in self.items
        }

    def _log_table(self, stats: dict, thrs: Optional[np.ndarray]) -> None:
        num_classes = len(stats['AP'])
        names = (self.dataset_meta or {}).get('classes') or [
            str(c) for c in range(num_classes)
        ]
        header = ['class', 'gts', 'precision', 'recall', 'F1', 'AP']
        if thrs is not None:
            header.append('best thr')
        rows = []
        for c in range(num_classes):
            row = [names[c], int(stats['support'][c])] + [
                100 * float(stats[k][c])
                for k in ('precision', 'recall', 'f1', 'AP')
            ]
            if thrs is not None:
                row.append(float(thrs[c]))
            rows.append(row)
        footer = ['mean', int(stats['support'].sum())] + [
            100 * stats[k] for k in ('CP', 'CR', 'macro-F1', 'mAP')
        ]
        if thrs is not None:
            footer.append('')
        mode = (f'top-{self.topk}'
                if self.topk is not None else f'thr={self.thr:g}')
        summary = ', '.join(f'{k} {100 * stats[k]:.2f}'
                            for k in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1'))
        table = format_table(
            header,
            rows,
            title=f'multi-label ({mode})',
            float_fmt='.2f',
            footer=footer)
        MMLogger.get_current_instance().info(f'\n{table}\n{summary}')
