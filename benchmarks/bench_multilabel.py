"""Speed and equality of mmext's multi-label statistics vs mmpretrain.

Ours: one ``multilabel_metrics`` call (CP/CR/macro-F1, OP/OR/OF1, per-class
AP and mAP). Peer: mmpretrain's ``MultiLabelMetric.calculate`` with
``average='macro'`` and ``'micro'`` plus ``AveragePrecision.calculate``.
Scores are float64 (tie-free with overwhelming probability, so AP is
defined the same way for both); about 2 % of labels are ignored (-1).
Differences come from mmpretrain's float32 arithmetic.

Usage::

    python benchmarks/bench_multilabel.py [--sizes 40000x80 100000x1000]

The last lines are one JSON object per size.
"""
import argparse
import json
import time

import numpy as np
import torch
from mmpretrain.evaluation import AveragePrecision, MultiLabelMetric

from mmext.evaluation.functional.multilabel import multilabel_metrics

KEYS = ('CP', 'CR', 'macro-F1', 'OP', 'OR', 'OF1', 'mAP')


def make_data(num: int, num_classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rate = rng.uniform(0.01, 0.1, num_classes).astype(np.float32)
    pos = rng.random((num, num_classes), dtype=np.float32) < rate
    targets = pos.astype(np.int8)
    targets[rng.random((num, num_classes), dtype=np.float32) < 0.02] = -1
    scores = (rng.random((num, num_classes)) + 0.5 * pos) / 1.5
    return scores, targets


def run_ours(scores, targets):
    res = multilabel_metrics(scores, targets, thr=0.5)
    return np.array([res[k] for k in KEYS]) * 100


def run_peer(scores, targets):
    pred = torch.from_numpy(scores)
    # calculate() casts targets with .long(), which copies int8 input;
    # an int64 tensor would be overwritten in place (-1 -> 0).
    target = torch.from_numpy(targets)
    macro = MultiLabelMetric.calculate(pred, target, average='macro', thr=0.5)
    micro = MultiLabelMetric.calculate(pred, target, average='micro', thr=0.5)
    ap = AveragePrecision.calculate(pred, target)
    return np.array([t.item() for t in (*macro[:3], *micro[:3], ap)])


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--sizes', nargs='+', default=['40000x80', '100000x1000'])
    args = parser.parse_args()
    lines = []
    for size in args.sizes:
        num, num_classes = map(int, size.split('x'))
        scores, targets = make_data(num, num_classes)
        ours, ours_s = timed(run_ours, scores, targets)
        peer, peer_s = timed(run_peer, scores, targets)
        diff = float(np.abs(ours - peer).max())
        print(f'{size}: ours {ours_s:.2f}s, mmpretrain {peer_s:.2f}s; '
              + ', '.join(f'{k} {o:.4f}/{p:.4f}'
                          for k, o, p in zip(KEYS, ours, peer)), flush=True)
        lines.append(
            dict(
                bench=f'multilabel_{num // 1000}kx{num_classes}',
                ours_s=round(ours_s, 3),
                peer='mmpretrain.MultiLabelMetric+AveragePrecision',
                peer_s=round(peer_s, 3),
                ratio=round(peer_s / ours_s, 1),
                max_abs_diff=diff))
    for line in lines:
        print(json.dumps(line))


if __name__ == '__main__':
    main()
