"""Speed and equality of mmext's multi-label statistics vs mmpretrain.

Ours: one ``multilabel_metrics`` call (CP/CR/macro-F1, OP/OR/OF1, per-class
AP and mAP). Peer: mmpretrain's ``MultiLabelMetric.calculate`` with
``average='macro'`` and ``'micro'`` plus ``AveragePrecision.calculate``.

Input form, the same for both: in-memory arrays built in the worker before
the clock starts (float64 scores, int8 targets; mmpretrain gets zero-copy
``torch.from_numpy`` views of them). Scores are float64, so tie-free with
overwhelming probability and AP is defined the same way for both; about
2 % of labels are ignored (-1). Differences come from mmpretrain's float32
arithmetic. Each contender runs in its own process, interleaved over
``--rounds`` rounds (see ``harness.py``); thread settings are left as the
user has them and recorded in each JSON line.

Usage::

    python benchmarks/bench_multilabel.py [--sizes 40000x80 100000x1000]
        [--rounds 3] [--contention]

The last lines are one JSON object per size.
"""
import argparse

import numpy as np

import harness

KEYS = ('CP', 'CR', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP')


def make_data(num: int, num_classes: int, seed: int = 0):
    """Scores and targets with per-class positive rates of 1-10 %."""
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.01, 0.1, num_classes).astype(np.float32)
    pos = rng.random((num, num_classes), dtype=np.float32) < rate
    targets = pos.astype(np.int8)
    targets[rng.random((num, num_classes), dtype=np.float32) < 0.02] = -1
    scores = (rng.random((num, num_classes)) + 0.5 * pos) / 1.5
    return scores, targets


def run_ours(case: str) -> dict:
    from mmext.evaluation.functional.multilabel import multilabel_metrics
    scores, targets = make_data(*map(int, case.split('x')))
    res, seconds = harness.timed(multilabel_metrics, scores, targets, thr=0.5)
    return dict(seconds=seconds,
                result=np.array([res[k] for k in KEYS]) * 100)


def run_peer(case: str) -> dict:
    import torch
    from mmpretrain.evaluation import AveragePrecision, MultiLabelMetric
    scores, targets = make_data(*map(int, case.split('x')))
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


WORKERS = {'mmext': run_ours, 'mmpretrain': run_peer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--sizes', nargs='+', default=['40000x80', '100000x1000'],
        help='NUMxCLASSES problems (default: 40000x80 100000x1000)')
    harness.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        harness.serve(WORKERS, args)
        return
    lines = []
    with harness.Session(args) as session:
        for size in args.sizes:
            num, num_classes = map(int, size.split('x'))
            runs = session.compare(__file__, list(WORKERS), case=size)
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
    harness.emit(lines)


if __name__ == '__main__':
    main()
