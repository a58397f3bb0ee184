"""Detection evaluation speed: mmext vs mmdet eval_map and COCO evaluators.

Two synthetic data sets, the same for every contender:

* VOC07-test scale: 4952 images, 20 classes, ~2.4 GT per image (~15%
  difficult), 100 detections per image; mmext ``voc_eval`` against mmdet
  ``eval_map`` (nproc 4), once per AP mode.
* COCO-val scale: 5000 images, 80 classes, ~36k GT (1% crowd), 100
  detections per image; mmext ``coco_eval`` (in-memory arrays to the 12
  stats) against pycocotools, faster-coco-eval, hotcoco and
  ultrafast-pycocotools (load GT + results JSON, evaluate, accumulate,
  summarize). Each COCO contender runs in its own process, so its peak
  memory (peak RSS minus RSS after imports) is its own.

The last lines are one JSON object per comparison::

    {"bench": "coco_eval", "ours_s": ..., "peer": "pycocotools",
     "peer_s": ..., "ratio": ..., "max_abs_diff": ..., ...}

Usage: ``python benchmarks/bench_det_eval.py [--scale 1.0] [--repeat 1]``.
"""
import argparse
import contextlib
import io
import json
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

COCO_PEERS = {
    'pycocotools': 'pycocotools',
    'faster-coco-eval': 'faster_coco_eval',
    'hotcoco': 'hotcoco',
    'ultrafast-pycocotools': 'ultrafast_pycocotools',
}


def make_scene(rng, num_images, num_classes, gts_per_image, dets_per_image,
               difficult_frac, crowd_frac, integer):
    """Flat GT and detection arrays: detections are 30% jittered GTs (same
    or, 10% of the time, another class) and 70% random boxes; scores are
    distinct float32 values (tie free, so every evaluator agrees)."""
    ng = rng.poisson(gts_per_image, num_images)
    gt_imgs = np.repeat(np.arange(num_images), ng)
    g = len(gt_imgs)
    # log-uniform sizes cover COCO's small, medium and large ranges
    wh = np.exp(rng.uniform(np.log(6), np.log(450), (g, 2)))
    xy = rng.uniform(0, 640 - wh)
    gt_boxes = np.concatenate([xy, xy + wh], axis=1)
    gt_labels = rng.integers(0, num_classes, g)
    special = rng.random(g)
    gt_difficult = special < difficult_frac
    gt_crowd = special > 1 - crowd_frac
    n = num_images * dets_per_image
    det_imgs = np.repeat(np.arange(num_images), dets_per_image)
    wh = np.exp(rng.uniform(np.log(6), np.log(450), (n, 2)))
    xy = rng.uniform(0, 640 - wh)
    det_boxes = np.concatenate([xy, xy + wh], axis=1)
    det_labels = rng.integers(0, num_classes, n)
    start = np.cumsum(ng) - ng
    jit = (rng.random(n) < 0.3) & (ng[det_imgs] > 0)
    src = start[det_imgs[jit]] + (rng.random(jit.sum()) *
                                  ng[det_imgs[jit]]).astype(int)
    size = (gt_boxes[src, 2:] - gt_boxes[src, :2]).repeat(2, axis=1)
    det_boxes[jit] = gt_boxes[src] + rng.normal(0, 0.08, (len(src), 4)) * size
    det_labels[jit] = np.where(
        rng.random(len(src)) < 0.9, gt_labels[src],
        rng.integers(0, num_classes, len(src)))
    det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 1)
    if integer:
        gt_boxes, det_boxes = np.round(gt_boxes), np.round(det_boxes)
    scores = ((rng.permutation(n) + 1) / (n + 1)).astype(np.float32)
    return dict(
        gt_boxes=gt_boxes.astype(np.float32), gt_labels=gt_labels,
        gt_imgs=gt_imgs, gt_difficult=gt_difficult, gt_crowd=gt_crowd,
        det_boxes=det_boxes.astype(np.float32), det_labels=det_labels,
        det_imgs=det_imgs, det_scores=scores, num_images=num_images,
        num_classes=num_classes)


def bench_voc(scene, repeat):
    """Ours vs mmdet eval_map (nproc 4), one comparison per AP mode."""
    from mmdet.evaluation.functional import eval_map

    from mmext.evaluation.functional import voc_eval
    s = scene
    k = s['num_classes']
    # mmdet's input: per image, per class (n, 5) arrays and annotations
    dets, anns = [], []
    d_split = np.searchsorted(s['det_imgs'], np.arange(s['num_images'] + 1))
    g_split = np.searchsorted(s['gt_imgs'], np.arange(s['num_images'] + 1))
    for i in range(s['num_images']):
        a, b = d_split[i], d_split[i + 1]
        box_score = np.hstack(
            [s['det_boxes'][a:b], s['det_scores'][a:b, None]])
        lab = s['det_labels'][a:b]
        dets.append([box_score[lab == c] for c in range(k)])
        a, b = g_split[i], g_split[i + 1]
        diff = s['gt_difficult'][a:b]
        anns.append(
            dict(bboxes=s['gt_boxes'][a:b][~diff],
                 labels=s['gt_labels'][a:b][~diff],
                 bboxes_ignore=s['gt_boxes'][a:b][diff],
                 labels_ignore=s['gt_labels'][a:b][diff]))
    # ours sees GTs in eval_map's order: regular before difficult per image
    order = np.lexsort((s['gt_difficult'], s['gt_imgs']))
    lines = []
    for mode in ('11points', 'area'):
        t_ours, t_peer = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            ours = voc_eval(
                s['det_boxes'], s['det_scores'], s['det_labels'],
                s['det_imgs'], s['gt_boxes'][order], s['gt_labels'][order],
                s['gt_imgs'][order], k,
                gt_ignore=s['gt_difficult'][order], iou_thrs=(0.5, ),
                legacy_coords=True, modes=(mode, ))
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref_map, ref = eval_map(
                dets, anns, iou_thr=0.5, logger='silent', nproc=4,
                use_legacy_coordinate=True, eval_mode=mode)
            t_peer.append(time.perf_counter() - t0)
        ref_ap = np.array([r['ap'] for r in ref], dtype=np.float64)
        diff = max(
            abs(float(ours['mAP'][mode][0]) - ref_map),
            float(np.nanmax(np.abs(ours['ap'][mode][0] - ref_ap))))
        lines.append(
            dict(bench=f'voc_eval_{mode}', ours_s=round(min(t_ours), 4),
                 peer='mmdet.eval_map(nproc=4)', peer_s=round(min(t_peer), 4),
                 ratio=round(min(t_peer) / min(t_ours), 1),
                 max_abs_diff=diff, ours_mAP=float(ours['mAP'][mode][0]),
                 peer_mAP=float(ref_map)))
    return lines


def write_coco_inputs(s, out_dir):
    """GT json, results json and an npz of the same scene."""
    xywh = lambda b: np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)  # noqa
    gb = xywh(s['gt_boxes'].astype(np.float64))
    anns = [
        dict(id=i + 1, image_id=int(im) + 1, category_id=int(c) + 1,
             bbox=[float(v) for v in b], area=float(b[2] * b[3]),
             iscrowd=int(cr))
        for i, (b, c, im, cr) in enumerate(
            zip(gb, s['gt_labels'], s['gt_imgs'], s['gt_crowd']))
    ]
    gt = dict(
        images=[dict(id=i + 1, width=640, height=640, file_name=f'{i}.jpg')
                for i in range(s['num_images'])],
        categories=[dict(id=c + 1, name=f'c{c}')
                    for c in range(s['num_classes'])],
        annotations=anns)
    db = xywh(s['det_boxes'].astype(np.float64))
    res = [
        dict(image_id=int(im) + 1, category_id=int(c) + 1,
             bbox=[float(v) for v in b], score=float(sc))
        for b, c, im, sc in zip(db, s['det_labels'], s['det_imgs'],
                                s['det_scores'])
    ]
    with open(osp.join(out_dir, 'gt.json'), 'w') as f:
        json.dump(gt, f)
    with open(osp.join(out_dir, 'res.json'), 'w') as f:
        json.dump(res, f)
    np.savez(osp.join(out_dir, 'scene.npz'), **{
        k: v for k, v in s.items() if isinstance(v, np.ndarray)
    }, num_images=s['num_images'], num_classes=s['num_classes'])


def _rss_mb(field: str = 'VmRSS') -> float:
    """Resident (``VmRSS``) or peak resident (``VmHWM``) memory in MiB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _reset_peak() -> float:
    """Reset the peak RSS to the current RSS (Linux ``clear_refs`` 5) and
    return the current RSS: the baseline after imports."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
    except OSError:
        pass
    return _rss_mb()


def worker(name, data_dir):
    """Run one contender; print a JSON line with time, stats and memory."""
    if name == 'mmext':
        from mmext.evaluation.functional import coco_eval
        base = _reset_peak()
        t0 = time.perf_counter()
        z = np.load(osp.join(data_dir, 'scene.npz'))
        s = {k: z[k] for k in z.files}
        t1 = time.perf_counter()
        res = coco_eval(
            s['det_boxes'], s['det_scores'], s['det_labels'], s['det_imgs'],
            s['gt_boxes'], s['gt_labels'], s['gt_imgs'],
            int(s['num_classes']), gt_iscrowd=s['gt_crowd'])
        t2 = time.perf_counter()
        stats = res['stats'].tolist()
        seconds = t2 - t1
    else:
        mod = __import__(COCO_PEERS[name])
        if name == 'faster-coco-eval':
            from faster_coco_eval import COCO, COCOeval_faster as COCOeval
        else:
            COCO = mod.COCO if hasattr(mod, 'COCO') else None
            if name == 'pycocotools':
                from pycocotools.coco import COCO
                from pycocotools.cocoeval import COCOeval
            else:
                COCOeval = mod.COCOeval
        base = _reset_peak()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(osp.join(data_dir, 'gt.json'))
            dt = gt.loadRes(osp.join(data_dir, 'res.json'))
            ev = COCOeval(gt, dt, 'bbox')
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        seconds = time.perf_counter() - t0
        stats = [float(v) for v in ev.stats]
    print(json.dumps(dict(name=name, seconds=seconds, stats=stats,
                          peak_mem_mb=_rss_mb('VmHWM') - base)))


def run_worker(name, data_dir):
    proc = subprocess.run(
        [sys.executable, osp.abspath(__file__), '--worker', name, data_dir],
        capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return None, (proc.stderr.strip().splitlines() or ['failed'])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def bench_coco(scene, repeat, peers=tuple(COCO_PEERS)):
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        write_coco_inputs(scene, tmp)
        ours = [run_worker('mmext', tmp)[0] for _ in range(repeat)]
        best = min(ours, key=lambda r: r['seconds'])
        for peer, mod in COCO_PEERS.items():
            if peer not in peers:
                continue
            try:
                __import__(mod)
            except ImportError as e:
                print(f'skipping {peer}: not installed ({e})')
                continue
            runs = [run_worker(peer, tmp) for _ in range(repeat)]
            errors = [e for _, e in runs if e]
            if errors:
                print(f'skipping {peer}: it failed: {errors[0]}')
                continue
            peer_best = min((r for r, _ in runs), key=lambda r: r['seconds'])
            lines.append(
                dict(bench='coco_eval', ours_s=round(best['seconds'], 4),
                     peer=peer, peer_s=round(peer_best['seconds'], 4),
                     ratio=round(peer_best['seconds'] / best['seconds'], 1),
                     max_abs_diff=float(
                         np.max(np.abs(np.subtract(best['stats'],
                                                   peer_best['stats'])))),
                     ours_peak_mem_mb=round(best['peak_mem_mb'], 1),
                     peer_peak_mem_mb=round(peer_best['peak_mem_mb'], 1),
                     ours_AP=best['stats'][0], peer_AP=peer_best['stats'][0]))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=float, default=1.0,
                        help='fraction of the images (for a quick run)')
    parser.add_argument('--repeat', type=int, default=1,
                        help='runs per contender; the fastest counts')
    parser.add_argument('--only', choices=('voc', 'coco'), default=None)
    parser.add_argument('--peers', nargs='+', choices=tuple(COCO_PEERS),
                        default=tuple(COCO_PEERS),
                        help='COCO evaluators to compare with')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    rng = np.random.default_rng(0)
    lines = []
    if args.only in (None, 'voc'):
        voc = make_scene(rng, int(4952 * args.scale), 20, 2.4, 100, 0.15, 0.0,
                         integer=True)
        print(f"VOC scene: {voc['num_images']} images, "
              f"{len(voc['gt_labels'])} GT, {len(voc['det_labels'])} dets")
        lines += bench_voc(voc, args.repeat)
    if args.only in (None, 'coco'):
        coco = make_scene(rng, int(5000 * args.scale), 80, 7.2, 100, 0.0,
                          0.01, integer=False)
        print(f"COCO scene: {coco['num_images']} images, "
              f"{len(coco['gt_labels'])} GT, {len(coco['det_labels'])} dets")
        lines += bench_coco(coco, args.repeat, args.peers)
    for line in lines:
        print(json.dumps(line))


if __name__ == '__main__':
    main()
