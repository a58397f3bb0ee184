"""Speed and equality of mmext's multi-label statistics vs mmpretrain and
sklearn.

Two comparisons, each its own interleaved run (see ``harness.py``):

* ``multilabel_<N>kx<C>`` (``--sizes``): mmext's one ``multilabel_metrics``
  call (CP/CR/macro-F1, OP/OR/OF1, and the ranking pass: AP, AUC, best-F1)
  against mmpretrain's ``MultiLabelMetric.calculate`` with
  ``average='macro'`` and ``'micro'`` plus ``AveragePrecision.calculate``.
  About 2 % of the labels are ignored (-1).
* ``multilabel_ranking_<N>kx<C>`` (``--ranking-sizes``): mmext's ranking
  pass alone (``multilabel_ranking_stats``: per-class AP, ROC-AUC and
  best-F1 thresholds from one ranking) against sklearn's
  ``roc_auc_score(average='macro')`` and against mmpretrain's
  ``AveragePrecision.calculate``; two JSON lines, one per peer. No ignored
  labels (sklearn has none).

Input form, the same for every contender: in-memory arrays built in the
worker before the clock starts (float64 scores, int8 targets; mmpretrain
gets zero-copy ``torch.from_numpy`` views). Scores are float64, so tie-free
with overwhelming probability and AP is defined the same way for all;
differences come from mmpretrain's float32 arithmetic. Thread settings are
left as the user has them and recorded in each JSON line. Two rounds by
default: sklearn and mmpretrain take tens of seconds per run at 100k x 1000.

Usage::

    python benchmarks/bench_multilabel.py [--sizes 40000x80]
        [--ranking-sizes 100000x1000] [--rounds 2] [--contention]

The last lines are one JSON object per comparison.
"""
import argparse

import numpy as np

import harness

KEYS = ('CP', 'CR', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP')


def make_data(num: int, num_classes: int, seed: int = 0,
              ignored: float = 0.02):
    """Scores and targets with per-class positive rates of 1-10 %."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.01, 0.1, num_classes).astype(np.float32)
    pos = rng.random((num, num_classes), dtype=np.float32) < rate
    targets = pos.astype(np.int8)
    if ignored:
        targets[rng.random((num, num_classes), dtype=np.float32) <
                ignored] = -1
    scores = (rng.random((num, num_classes)) + 0.5 * pos) / 1.5
    return scores, targets


def _case(case: str, **kwargs):
    return make_data(*map(int, case.split('x')), **kwargs)


def run_ours(case: str) -> dict:
    from mmext.evaluation.functional.multilabel import multilabel_metrics
    scores, targets = _case(case)
    res, seconds = harness.timed(multilabel_metrics, scores, targets, thr=0.5)
    return dict(seconds=seconds,
                result=np.array([res[k] for k in KEYS]) * 100)


def run_peer(case: str) -> dict:
    import torch
    from mmpretrain.evaluation import AveragePrecision, MultiLabelMetric
    scores, targets = _case(case)
    pred = torch.from_numpy(scores)
    # calculate() casts targets with .long(), which copies int8 input;
    # an int64 tensor would be overwritten in place (-1 -> 0).
    target = torch.from_numpy(targets)

    def peer():
        macro = MultiLabelMetric.calculate(pred, target, average='macro',
                                           thr=0.5)
        micro = MultiLabelMetric.calculate(pred, target, average='micro',
                                           thr=0.5)
        ap = AveragePrecision.calculate(pred, target)
        return [t.item() for t in (*macro[:3], *micro[:3], ap)]

    res, seconds = harness.timed(peer)
    return dict(seconds=seconds, result=np.array(res))


def run_ours_ranking(case: str) -> dict:
    from mmext.evaluation.functional.multilabel import \
        multilabel_ranking_stats
    scores, targets = _case(case, ignored=0)
    res, seconds = harness.timed(multilabel_ranking_stats, scores, targets)
    return dict(seconds=seconds, auc=float(np.mean(res['AUC'])),
                ap=100 * float(np.mean(res['AP'])))


def run_sklearn_auc(case: str) -> dict:
    from sklearn.metrics import roc_auc_score
    scores, targets = _case(case, ignored=0)
    auc, seconds = harness.timed(roc_auc_score, targets, scores,
                                 average='macro')
    return dict(seconds=seconds, auc=float(auc))


def run_mmpretrain_ap(case: str) -> dict:
    import torch
    from mmpretrain.evaluation import AveragePrecision
    scores, targets = _case(case, ignored=0)
    ap, seconds = harness.timed(AveragePrecision.calculate,
                                torch.from_numpy(scores),
                                torch.from_numpy(targets))
    return dict(seconds=seconds, ap=float(ap.item()))


WORKERS = {
    'mmext': run_ours, 'mmpretrain': run_peer,
    'mmext-ranking': run_ours_ranking, 'sklearn-auc': run_sklearn_auc,
    'mmpretrain-ap': run_mmpretrain_ap
}


def _diff(ours: dict, peer: dict, key: str):
    if 'error' in ours or 'error' in peer:
        return None
    return abs(ours[key] - peer[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--sizes', nargs='*', default=['40000x80'],
        help='NUMxCLASSES problems of the full comparison with mmpretrain '
        '(default: 40000x80)')
    parser.add_argument(
        '--ranking-sizes', nargs='*', default=['100000x1000'],
        help='NUMxCLASSES problems of the AUC / AP comparison with sklearn '
        'and mmpretrain (default: 100000x1000)')
    harness.add_arguments(parser, default_rounds=2)
    args = parser.parse_args()
    if args.worker:
        harness.serve(WORKERS, args)
        harness.end_worker()
    lines = []
    with harness.Session(args) as session:
        for size in args.sizes:
            num, num_classes = map(int, size.split('x'))
            runs = session.compare(__file__, ['mmext', 'mmpretrain'],
                                   case=size)
            ours, peer = runs['mmext'], runs['mmpretrain']
            diff = None
            if 'error' not in ours and 'error' not in peer:
                diff = float(np.abs(ours['result'] - peer['result']).max())
                print(f'{size}: ' + ', '.join(
                    f'{k} {o:.4f}/{p:.4f}'
                    for k, o, p in zip(KEYS, ours['result'], peer['result'])),
                    flush=True)
            lines.append(session.line(
                f'multilabel_{num // 1000}kx{num_classes}', ours, peer,
                peer='mmpretrain.MultiLabelMetric+AveragePrecision',
                max_abs_diff=diff))
        for size in args.ranking_sizes:
            num, num_classes = map(int, size.split('x'))
            runs = session.compare(
                __file__, ['mmext-ranking', 'sklearn-auc', 'mmpretrain-ap'],
                case=size)
            ours = runs['mmext-ranking']
            bench = f'multilabel_ranking_{num // 1000}kx{num_classes}'
            lines.append(session.line(
                bench, ours, runs['sklearn-auc'],
                peer='sklearn.roc_auc_score(average=macro)',
                max_abs_diff=_diff(ours, runs['sklearn-auc'], 'auc'),
                ours_computes='AP+AUC+best-F1 (one ranking pass)'))
            lines.append(session.line(
                bench, ours, runs['mmpretrain-ap'],
                peer='mmpretrain.AveragePrecision',
                max_abs_diff=_diff(ours, runs['mmpretrain-ap'], 'ap'),
                ours_computes='AP+AUC+best-F1 (one ranking pass)'))
    harness.emit(lines)


if __name__ == '__main__':
    main()
