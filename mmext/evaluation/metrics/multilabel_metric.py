"""Registered multi-label metric: CP/CR/CF1, OP/OR/OF1, mAP and ROC-AUC."""
import math
import numbers
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmext.evaluation.functional.multilabel import multilabel_metrics
from mmext.evaluation.multilabel_samples import (sample_score_target,
                                                 stack_samples)
from mmext.evaluation.multilabel_thresholds import (load_class_thresholds,
                                                    match_class_thresholds)
from mmext.registry import METRICS
from mmext.visualization import format_table
from mmext.visualization.multilabel_curves import write_multilabel_curves

_ITEMS = ('CP', 'CR', 'CF1', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP', 'AUC',
          'micro-AUC', 'best-F1')
# items that depend on no threshold: their keys carry no suffix
_RANKING_ITEMS = ('mAP', 'AUC', 'micro-AUC', 'best-F1')
# item -> key of multilabel_metrics' result
_STAT_OF_ITEM = {'AUC': 'macro-AUC', 'best-F1': 'mean-best-F1'}


@METRICS.register_module()
class MultiLabelMetric(BaseMetric):
    """Per-class (C) and overall (O) precision, recall, F1, mAP and ROC-AUC.

    CP / CR are the means over classes of per-class precision / recall and
    CF1 = 2 * CP * CR / (CP + CR); ``macro-F1`` is the mean of per-class F1s
    (what mmpretrain's ``MultiLabelMetric`` reports as f1-score). OP / OR /
    OF1 use the counts summed over classes. ``mAP`` is the non-interpolated
    mean AP of mmpretrain's ``AveragePrecision``. ``AUC`` is the macro
    ROC-AUC (sklearn's ``roc_auc_score(average='macro')``) over the classes
    that have both positives and negatives (the others are counted in the
    log); ``micro-AUC`` pools all labels (``average='micro'``). ``best-F1``
    is the mean of per-class F1 at each class's best threshold (an oracle
    upper bound). All values are in percent, AUC included, as mmpretrain's
    multi-label metrics (the functional core returns fractions). See
    :mod:`mmext.evaluation.functional.multilabel` for the conventions.

    Ground truth: see :mod:`mmext.evaluation.multilabel_samples` (``gt_score``
    or ``gt_label``; labels in ``gt_label_difficult`` ignored as mmpretrain's
    ``VOCMultiLabelMetric`` does). A per-class table is logged.

    Keys are ``'{prefix}/{item}'`` with the default prefix ``multi-label``;
    threshold-dependent items get mmpretrain's suffixes: none for
    ``thr=0.5``, ``_thr-0.30`` for other thresholds, ``_top3`` for
    ``topk=3``, and ``_thr-per-class`` for per-class thresholds.

    Per-class thresholds come from a list (one per class, in the dataset's
    class order) or from the JSON of ``tools/analysis/ml_thresholds.py``
    (``thr='thresholds.json'``), whose class names must be the dataset's
    (in any order), else a ``ValueError`` names the file.

    As mmpretrain's ``MultiLabelMetric``: given both ``thr`` and ``topk``,
    ``thr`` wins and mmpretrain's warning is logged. Unlike it, ``thr=0.0``
    names its keys ``_thr-0.00``. Stricter than mmpretrain: ``thr`` NaN or
    not a number, ``topk < 1``, an unknown item and a bad ``gt_label`` or
    ``gt_score`` are a ``ValueError`` naming the sample.

    Args:
        thr (float | Sequence[float] | str, optional): Predict a label when
            its score is ``>= thr``: one number, one per class, or the path
            of a thresholds JSON. Defaults to None, which means 0.5 unless
            ``topk`` is given.
        topk (int, optional): Predict the ``topk`` highest-scoring labels of
            each sample instead of thresholding; ignored (with a warning)
            when ``thr`` is given too. Defaults to None.
        items (Sequence[str]): Items to report, from ``'CP', 'CR', 'CF1',
            'macro-F1', 'OP', 'OR', 'OF1', 'mAP', 'AUC', 'micro-AUC',
            'best-F1'``. Defaults to ``('CP', 'CR', 'CF1', 'OP', 'OR',
            'OF1', 'mAP')``.
        curve_dir (str, optional): Write ``multilabel_roc.png`` and
            ``multilabel_pr.png`` (per-class and mean curves, AUC / AP in
            the legend) there; a relative path goes under the runner's
            work dir (set by ``mmext.MetricWorkDirHook``), else under the
            current directory. Defaults to None (no curves).
        collect_device (str): Device for collecting results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the keys. Defaults to None, i.e.
            ``'multi-label'``.

    Example:
        In an mmpretrain config (``default_scope='mmpretrain'``)::

            custom_imports = dict(imports=['mmext'],
                                  allow_failed_imports=False)
            custom_hooks = [dict(type='mmext.MetricWorkDirHook')]
            val_evaluator = dict(
                type='mmext.MultiLabelMetric', thr=0.5,
                items=('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1', 'mAP', 'AUC'),
                curve_dir='curves')
            test_evaluator = dict(
                type='mmext.MultiLabelMetric', thr='val_thresholds.json')
    """
    default_prefix: Optional[str] = 'multi-label'

    def __init__(self,
                 thr: Union[None, float, Sequence[float], str] = None,
                 topk: Optional[int] = None,
                 items: Sequence[str] = ('CP', 'CR', 'CF1', 'OP', 'OR',
                                         'OF1', 'mAP'),
                 curve_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thr_file = None
        self.file_classes = None
        if isinstance(thr, str):
            self.thr_file = thr
            self.file_classes, thr = load_class_thresholds(thr)
        elif isinstance(thr, (list, tuple, np.ndarray)):
            thr = np.asarray(thr, dtype=np.float64)
            if thr.ndim != 1 or np.isnan(thr).any():
                raise ValueError('per-class thr must be a flat list of '
                                 f'numbers (not NaN), got {thr.tolist()}')
        elif thr is not None and (isinstance(thr, bool)
                                  or not isinstance(thr, numbers.Real)
                                  or math.isnan(thr)):
            raise ValueError(f'thr must be a number (not NaN), a list or a '
                             f'thresholds file, got {thr!r}')
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
        self.curve_dir = curve_dir
        self.work_dir: Optional[str] = None  # set by MetricWorkDirHook

    @property
    def per_class_thr(self) -> bool:
        """Whether the metric applies one threshold per class."""
        return isinstance(self.thr, np.ndarray)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the scores and the {-1, 0, 1} targets of each sample.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Model outputs with
                ``pred_score`` and ``gt_score`` or ``gt_label``, and
                optionally ``gt_label_difficult``.
        """
        for n, sample in enumerate(data_samples):
            self.results.append(sample_score_target(sample, n))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        """Compute the requested items over all collected samples.

        Args:
            results (list): ``(pred_score, target)`` pairs from all ranks.

        Returns:
            dict[str, float]: Items in percent.

        Raises:
            ValueError: When ``results`` is empty, naming the metric and
                the usual causes (mmpretrain fails here with torch's
                "stack expects a non-empty TensorList").
        """
        if not results:
            raise ValueError(
                f'{type(self).__name__} got no samples to evaluate: the '
                'results of every rank are empty (an empty val/test '
                'dataloader, or a model whose outputs never reached '
                '`process`). mAP, AUC and the P/R/F1 items are undefined '
                'without samples.')
        scores, targets = stack_samples(results)
        classes = self._classes(scores.shape[1])
        thr = self.thr
        if self.thr_file is not None:
            thr = match_class_thresholds(self.thr_file, self.file_classes,
                                         thr, classes)
        # the ranking statistics are always computed: the table shows them
        stats = multilabel_metrics(
            scores, targets, thr=thr, topk=self.topk,
            with_micro_auc='micro-AUC' in self.items)
        self._log_table(stats, classes, thr)
        if self.curve_dir is not None:
            paths = write_multilabel_curves(scores, targets, classes,
                                            stats['AUC'], stats['AP'],
                                            self._curve_dir())
            MMLogger.get_current_instance().info(
                f"ROC and PR curves written to {paths['roc']} and "
                f"{paths['pr']}")
        suffix = (f'_top{self.topk}' if self.topk is not None else
                  '_thr-per-class' if self.per_class_thr else
                  '' if self.thr == 0.5 else f'_thr-{self.thr:.2f}')
        return {
            item + ('' if item in _RANKING_ITEMS else suffix):
            100 * float(stats[_STAT_OF_ITEM.get(item, item)])
            for item in self.items
        }

    def _classes(self, num_classes: int) -> List[str]:
        """The dataset's class names, or ``'0'`` ... ``'C-1'``."""
        names = (self.dataset_meta or {}).get('classes')
        if names is None:
            if self.thr_file is not None:
                raise ValueError(
                    f'thresholds file {self.thr_file} names classes but '
                    'the metric has no dataset_meta with classes to match')
            return [str(c) for c in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f'{num_classes} scores per sample but '
                             f'{len(names)} classes in dataset_meta')
        if self.per_class_thr and len(self.thr) != num_classes:
            raise ValueError(f'{len(self.thr)} per-class thresholds for '
                             f'{num_classes} classes')
        return list(names)

    def _curve_dir(self) -> str:
        if osp.isabs(self.curve_dir):
            return self.curve_dir
        return osp.join(self.work_dir or '.', self.curve_dir)

    def _log_table(self, stats: dict, classes: List[str], thr) -> None:
        per_class_thr = isinstance(thr, np.ndarray)
        header = ['class', 'gts', 'precision', 'recall', 'F1', 'AP', 'AUC',
                  'best-F1 thr'] + (['thr'] if per_class_thr else [])
        rows = []
        for c, name in enumerate(classes):
            rows.append([name, int(stats['support'][c])] + [
                100 * float(stats[k][c])
                for k in ('precision', 'recall', 'f1', 'AP', 'AUC')
            ] + [float(stats['best-F1-thr'][c])] +
                ([float(thr[c])] if per_class_thr else []))
        footer = ['mean', int(stats['support'].sum())] + [
            100 * stats[k]
            for k in ('CP', 'CR', 'macro-F1', 'mAP', 'macro-AUC')
        ] + [''] * (2 if per_class_thr else 1)
        mode = (f'top-{self.topk}' if self.topk is not None else
                f'thresholds of {self.thr_file}' if self.thr_file else
                'per-class thr' if per_class_thr else f'thr={thr:g}')
        summary = ', '.join(f'{k} {100 * stats[k]:.2f}'
                            for k in ('CP', 'CR', 'CF1', 'OP', 'OR', 'OF1'))
        if stats['AUC-undefined']:
            summary += (f"\n{stats['AUC-undefined']} classes without AUC "
                        '(only positives or only negatives), left out of '
                        'the macro AUC')
        table = format_table(header, rows, title=f'multi-label ({mode})',
                             float_fmt='.2f', footer=footer)
        MMLogger.get_current_instance().info(f'\n{table}\n{summary}')
