"""Registered multi-label metric: CP/CR/CF1, OP/OR/OF1 and mAP."""
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


@METRICS.register_module()
class MultiLabelMetric(BaseMetric):
    """Per-class (C) and overall (O) precision, recall, F1, and mAP.

    CP / CR are the means over classes of per-class precision / recall and
    CF1 = 2 * CP * CR / (CP + CR); ``macro-F1`` is the mean of per-class F1s
    (what mmpretrain's ``MultiLabelMetric`` reports as f1-score). OP / OR /
    OF1 use the counts summed over classes. ``mAP`` is the non-interpolated
    mean AP of mmpretrain's ``AveragePrecision``; ``best-F1`` is the mean of
    per-class F1 at each class's best threshold (an oracle upper bound).
    Values are in percent. See :mod:`mmext.evaluation.functional.multilabel`
    for conventions on empty classes.

    Ground truth is ``gt_score`` (one-hot; -1 = ignore) if present, else
    ``gt_label`` (indices). Labels listed in ``gt_label_difficult`` (VOC
    data sets of mmpretrain) that no non-difficult object carries are
    ignored, as in mmpretrain's ``VOCMultiLabelMetric``. A per-class table is
    logged.

    Keys are ``'{prefix}/{item}'`` with the default prefix ``multi-label``
    (the one mmpretrain's multi-label metrics use); threshold-dependent items
    get mmpretrain's suffixes: none for ``thr=0.5``, ``_thr-0.30`` for other
    thresholds, ``_top3`` for ``topk=3``.

    Args:
        thr (float, optional): Predict a label when its score is ``>= thr``.
            Defaults to None, which means 0.5 unless ``topk`` is given.
        topk (int, optional): Predict the ``topk`` highest-scoring labels of
            each sample instead of thresholding. Defaults to None.
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
        if thr is not None and topk is not None:
            raise ValueError('give either thr or topk, not both')
        if topk is not None and topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
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
        for sample in data_samples:
            score = torch.as_tensor(sample['pred_score']).detach().cpu()
            if 'gt_score' in sample:
                target = torch.as_tensor(sample['gt_score']).detach().cpu()
                target = target.clone()
            else:
                target = torch.zeros(score.shape[-1])
                target[torch.as_tensor(sample['gt_label']).long()] = 1
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
