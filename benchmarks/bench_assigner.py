"""TaskAligned assignment: mmext (batched) vs mmdet (per-image loop) vs
ultralytics (batched), B=16 images, 8400 priors (640 input, strides
8/16/32), 20 classes, M GTs per image.

Same input form for all contenders: the same in-memory float32 tensors
(scores, decoded boxes, priors, padded GTs), built outside the timed part.
mmext and ultralytics take the whole (B, ...) batch; mmdet's assigner takes
one image per call, so its timed part is the loop over the 16 images
(``InstanceData`` views of the same tensors), as its users run it.

Contenders run through :mod:`harness` (own processes, interleaved rounds,
fastest kept; load average and thread settings in each line;
``--contention`` adds a busy competing process). Each run warms up on a
small batch, then times ``--repeats`` calls and keeps the fastest; peak
memory is the growth of peak RSS over the warmed-up baseline. Outputs are
compared in the parent: mmext 'mmdet' mode against mmdet per image
(gt_inds, labels, max_overlaps, assign_metrics), mmext 'ultralytics' mode
against ultralytics (fg mask, GT index, target scores). The last lines are
one JSON object per comparison.

Crowded scenes (``--crowded``, default 1000 GTs per image): mmext in both
modes against mmdet's loop, one line with the peak RSS of each (growth over
the warmed-up process and the process total) and the time; ultralytics is
left out there (its (B, M, A) tensors take tens of GB at that size).

Usage: python benchmarks/bench_assigner.py [--gts 10 100 500] [--repeats N]
[--crowded 1000] [--rounds R] [--contention]
"""
import argparse
import json

import harness
import torch

B, NUM_CLASSES, IMG, STRIDES, TOPK = 16, 20, 640, (8, 16, 32), 13


def make_inputs(num_gts: int, seed: int = 0, batch: int = B) -> dict:
    """Random but detector-like inputs of ``batch`` images: boxes around the
    priors."""
    g = torch.Generator().manual_seed(seed)
    centers = []
    for s in STRIDES:
        c = torch.arange(0, IMG, s, dtype=torch.float32) + s / 2
        cy, cx = torch.meshgrid(c, c, indexing='ij')
        centers.append(torch.stack([cx.flatten(), cy.flatten()], -1))
    centers = torch.cat(centers)  # (8400, 2)
    priors = torch.cat([centers - 32, centers + 32], -1)
    num = centers.shape[0]
    scores = torch.rand(batch, num, NUM_CLASSES, generator=g)
    wh = torch.rand(batch, num, 2, generator=g) * 120 + 8
    ctr = centers + (torch.rand(batch, num, 2, generator=g) - 0.5) * 16
    pred = torch.cat([ctr - wh / 2, ctr + wh / 2], -1)
    gxy = torch.rand(batch, num_gts, 2, generator=g) * IMG
    gwh = torch.rand(batch, num_gts, 2, generator=g) * 150 + 10
    gt = torch.cat([gxy - gwh / 2, gxy + gwh / 2], -1).clamp(0, IMG)
    labels = torch.randint(0, NUM_CLASSES, (batch, num_gts), generator=g)
    valid = torch.ones(batch, num_gts, dtype=torch.bool)
    return dict(centers=centers, priors=priors, scores=scores, pred=pred,
                gt=gt, labels=labels, valid=valid)


def run_ours(x: dict, mode: str):
    from mmext.models.task_modules import task_aligned_assign
    kw = dict(alpha=1, beta=6) if mode == 'mmdet' else dict(
        alpha=1.0, beta=6.0, min_gt_side=16.0)
    # mmdet computes centres from the priors: same expression
    centers = (x['priors'][:, :2] + x['priors'][:, 2:]) / 2.0 \
        if mode == 'mmdet' else x['centers']
    r = task_aligned_assign(x['scores'], x['pred'], centers, x['gt'],
                            x['labels'], x['valid'], topk=TOPK, mode=mode,
                            **kw)
    return {k: v for k, v in r._asdict().items()}


def run_mmdet(x: dict):
    from mmdet.models.task_modules.assigners import TaskAlignedAssigner
    from mmengine.structures import InstanceData
    assigner = TaskAlignedAssigner(topk=TOPK)
    out = {k: [] for k in ('gt_inds', 'labels', 'max_overlaps', 'metrics')}
    for i in range(x['scores'].shape[0]):
        r = assigner.assign(
            InstanceData(priors=x['priors'], bboxes=x['pred'][i],
                         scores=x['scores'][i]),
            InstanceData(bboxes=x['gt'][i], labels=x['labels'][i]))
        for k, v in (('gt_inds', r.gt_inds), ('labels', r.labels),
                     ('max_overlaps', r.max_overlaps),
                     ('metrics', r.assign_metrics)):
            out[k].append(v)
    return {k: torch.stack(v) for k, v in out.items()}


def run_ultralytics(x: dict):
    from ultralytics.utils.tal import TaskAlignedAssigner
    tal = TaskAlignedAssigner(topk=TOPK, num_classes=NUM_CLASSES, alpha=1.0,
                              beta=6.0)
    _, _, t_scores, fg, t_idx = tal(x['scores'], x['pred'], x['centers'],
                                    x['labels'][..., None].float(), x['gt'],
                                    x['valid'][..., None].float())
    return dict(fg_mask=fg, gt_inds=t_idx, target_scores=t_scores)


WORKERS = {
    'ours_mmdet': lambda x: run_ours(x, 'mmdet'),
    'ours_ultralytics': lambda x: run_ours(x, 'ultralytics'),
    'mmdet': run_mmdet,
    'ultralytics': run_ultralytics,
}


def worker(name: str, case: str) -> dict:
    """Time one contender on ``case`` ('M:repeats' or 'M:repeats:batch',
    batch 16 by default); keep its last output, fastest time and peak
    memory."""
    num_gts, repeats, *batch = map(int, case.split(':'))
    x = make_inputs(num_gts, batch=batch[0] if batch else B)
    WORKERS[name](make_inputs(2, seed=1))  # warm-up: imports, allocator
    base_mb = harness.reset_peak_rss()
    times = []
    for _ in range(repeats):
        result, seconds = harness.timed(WORKERS[name], x)
        times.append(seconds)
    return dict(seconds=min(times), result=result,
                peak_mb=harness.peak_rss_mb() - base_mb,
                peak_total_mb=harness.peak_rss_mb())


def max_abs_diff(pairs) -> float:
    diff = 0.0
    for a, b in pairs:
        if a.shape != b.shape:
            return float('inf')
        d = (a.double() - b.double()).abs()
        diff = max(diff, float(d.max()) if d.numel() else 0.0)
    return diff


def compare_mmdet(ours: dict, ref: dict) -> float:
    fg = ours['fg_mask']
    max_ov = torch.where(fg, ours['overlaps'], torch.full_like(
        ours['overlaps'], -1e8))
    return max_abs_diff([(ref['gt_inds'], ours['gt_inds'] + 1),
                         (ref['labels'], ours['labels']),
                         (ref['max_overlaps'], max_ov),
                         (ref['metrics'], ours['metrics'])])


def compare_ultralytics(ours: dict, ref: dict) -> float:
    fg = ours['fg_mask']
    one_hot = torch.nn.functional.one_hot(ours['labels'].clamp(min=0),
                                          NUM_CLASSES)
    return max_abs_diff([(ref['fg_mask'], fg),
                         (ref['gt_inds'][fg], ours['gt_inds'][fg]),
                         (ref['target_scores'],
                          one_hot * ours['norm_metrics'][..., None])])


PAIRS = (('ours_mmdet', 'mmdet', 'mmdet.TaskAlignedAssigner', compare_mmdet),
         ('ours_ultralytics', 'ultralytics',
          'ultralytics.TaskAlignedAssigner', compare_ultralytics))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gts', type=int, nargs='+', default=[10, 100, 500])
    parser.add_argument('--repeats', type=int, default=0,
                        help='timed calls per run (0: 5 / 3 / 2 by M)')
    parser.add_argument('--crowded', type=int, default=1000,
                        help='GTs per image of the crowded-scene line '
                        '(0: skip)')
    harness.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        harness.serve({name: lambda case, name=name: worker(name, case)
                       for name in WORKERS}, args)
        harness.end_worker()
    lines = []
    with harness.Session(args) as session:
        for m in args.gts:
            repeats = args.repeats or (5 if m <= 10 else 3 if m <= 100 else 2)
            # all four in one interleaved comparison: the same phases of a
            # shared machine fall on every contender
            runs = session.compare(__file__, list(WORKERS),
                                   case=f'{m}:{repeats}')
            for ours_key, peer_key, peer_name, cmp in PAIRS:
                ours, peer = runs[ours_key], runs[peer_key]
                ok = 'error' not in ours and 'error' not in peer
                extra = dict(
                    mode=ours_key[5:],
                    ours_peak_mb=round(ours['peak_mb'], 1),
                    peer_peak_mb=round(peer['peak_mb'], 1)) if ok else dict(
                        mode=ours_key[5:])
                line = session.line(
                    f'assigner_M{m}', ours, peer, peer_name,
                    cmp(ours['result'], peer['result']) if ok else None,
                    **extra)
                lines.append(line)
                print(json.dumps(line), flush=True)
        if args.crowded:
            line = crowded_line(session, args.crowded)
            lines.append(line)
            print(json.dumps(line), flush=True)
    harness.emit(lines)


def crowded_line(session: harness.Session, num_gts: int) -> dict:
    """mmext (both modes) vs mmdet's loop at ``num_gts`` GTs per image,
    with the peak memory of each."""
    runs = session.compare(__file__, ['ours_mmdet', 'ours_ultralytics',
                                      'mmdet'], case=f'{num_gts}:1')
    ours, ultra, peer = (runs['ours_mmdet'], runs['ours_ultralytics'],
                         runs['mmdet'])
    ok = 'error' not in ours and 'error' not in peer
    extra = dict(mode='mmdet', batch=B)
    for name, run in (('ours', ours), ('peer', peer),
                      ('ultralytics_mode', ultra)):
        if 'error' not in run:
            extra[f'{name}_peak_mb'] = round(run['peak_mb'], 1)
            extra[f'{name}_peak_total_mb'] = round(run['peak_total_mb'], 1)
    if 'error' not in ultra:
        extra['ultralytics_mode_s'] = round(ultra['seconds'], 4)
    return session.line(f'assigner_crowded_M{num_gts}', ours, peer,
                        'mmdet.TaskAlignedAssigner',
                        compare_mmdet(ours['result'], peer['result'])
                        if ok else None, **extra)


if __name__ == '__main__':
    main()
