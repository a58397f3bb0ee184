"""Detection evaluation speed: mmext vs mmdet eval_map and COCO evaluators.

Synthetic data sets, the same for every contender (``--scale 1``, the
default, is full size; ``--quick`` is a smoke run at small sizes):

* VOC07-test scale: 4952 images, 20 classes, ~2.4 GT per image (~15%
  difficult), 100 detections per image; mmext ``voc_eval`` against mmdet
  ``eval_map`` (nproc 4, its default), once per AP mode. Input form: in
  memory for both, each in its own layout (flat arrays for mmext, mmdet's
  per-image, per-class lists), built before the clock starts.
* COCO-val scale: 5000 images, 80 classes, ~36k GT (1% crowd), 100
  detections per image (500k); mmext against pycocotools,
  faster-coco-eval, hotcoco and ultrafast-pycocotools, in two input forms,
  each the same for all contenders:

  - ``files`` (end to end): a GT json and a results json on disk, and a
    fresh process per run, timed from its start to its exit, imports
    included: ``python tools/analysis/eval_dets.py --gt-json --res-json
    --metric coco`` for mmext (load, evaluate, per-class tables, metrics
    json), ``COCO(gt.json)``, ``loadRes(res.json)``, evaluate, accumulate,
    summarize for each peer (a script importing the peer's library only).
    Peak memory is the process's peak RSS (the largest of parent and
    children where mmext forks them: one parses part of the results, see
    ``mmext.evaluation.coco_json``, one evaluates part of the classes, see
    ``mmext.evaluation.functional.coco``; a child's RSS counts the pages
    it shares with the parent); ``ours_cpu_s`` and
    ``peer_cpu_s`` are user + sys seconds, children included. mmext's
    modules are byte-compiled first, as installed packages (the peers')
    are (:func:`byte_compile_mmext`);
  - ``memory``: already parsed. Peers get the GT dict and the results list
    (``COCO(dict)`` or ``COCO()`` + ``createIndex()`` for pycocotools, then
    ``loadRes(list)``); mmext gets flat arrays (``coco_eval``). Peak memory
    is the peak RSS of the timed part minus the RSS before it.

* COCO scaling: mmext's ``files`` run at 50k, 500k and 5M detections (500,
  5000 and 50000 images); one line per size against a linear growth from
  the smallest (``ratio`` >= 1: at most linear), with its peak RSS and
  ``growth_vs_previous`` (time ratio over size ratio from the size before:
  1.0 is linear).

Every contender runs in its own process, interleaved over ``--rounds``
rounds, fastest kept (see ``harness.py``). Scores are distinct, so every
evaluator ranks the same way.

The last lines are one JSON object per comparison::

    {"bench": "coco_eval_files", "ours_s": ..., "peer": "pycocotools",
     "peer_s": ..., "ratio": ..., "max_abs_diff": ..., ...}

Usage: ``python benchmarks/bench_det_eval.py [--scale 1] [--quick]
[--rounds 3] [--only voc coco scaling] [--forms files memory]
[--scaling-dets 50000 500000 5000000] [--contention]``.
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np
import orjson

import harness
from mmext.evaluation.functional import xyxy_to_xywh

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EVAL_DETS = osp.join(REPO, 'tools', 'analysis', 'eval_dets.py')

COCO_PEERS = {
    'pycocotools': 'pycocotools',
    'faster-coco-eval': 'faster_coco_eval',
    'hotcoco': 'hotcoco',
    'ultrafast-pycocotools': 'ultrafast_pycocotools',
}
COCO_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
             'AR100', 'ARs', 'ARm', 'ARl')


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


def write_coco_inputs(s, out_dir, chunk=500_000):
    """GT json, results json (written a slice at a time) and an npz of the
    same scene."""
    gb = xyxy_to_xywh(s['gt_boxes'].astype(np.float64))
    anns = [
        dict(id=i + 1, image_id=im + 1, category_id=c + 1, bbox=b,
             area=b[2] * b[3], iscrowd=int(cr))
        for i, (b, c, im, cr) in enumerate(
            zip(gb.tolist(), s['gt_labels'].tolist(), s['gt_imgs'].tolist(),
                s['gt_crowd'].tolist()))
    ]
    gt = dict(
        images=[dict(id=i + 1, width=640, height=640, file_name=f'{i}.jpg')
                for i in range(s['num_images'])],
        categories=[dict(id=c + 1, name=f'c{c}')
                    for c in range(s['num_classes'])],
        annotations=anns)
    with open(osp.join(out_dir, 'gt.json'), 'wb') as f:
        f.write(orjson.dumps(gt))
    n = len(s['det_labels'])
    with open(osp.join(out_dir, 'res.json'), 'wb') as f:
        f.write(b'[')
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            res = [
                dict(image_id=im + 1, category_id=c + 1, bbox=b, score=sc)
                for b, c, im, sc in zip(
                    xyxy_to_xywh(s['det_boxes'][sl].astype(
                        np.float64)).tolist(), s['det_labels'][sl].tolist(),
                    s['det_imgs'][sl].tolist(),
                    s['det_scores'][sl].astype(np.float64).tolist())
            ]
            f.write((b',' if start else b'') + orjson.dumps(res)[1:-1])
        f.write(b']')
    save_scene(s, out_dir)


def load_scene(data_dir: str) -> dict:
    z = np.load(osp.join(data_dir, 'scene.npz'))
    return {k: z[k] for k in z.files}


def voc_worker(name: str, mode: str, data_dir: str) -> dict:
    """mmext ``voc_eval`` or mmdet ``eval_map`` on the VOC scene."""
    s = load_scene(data_dir)
    k = int(s['num_classes'])
    if name == 'mmext':
        from mmext.evaluation.functional import voc_eval

        # ours sees GTs in eval_map's order: regular before difficult
        order = np.lexsort((s['gt_difficult'], s['gt_imgs']))

        def run():
            res = voc_eval(
                s['det_boxes'], s['det_scores'], s['det_labels'],
                s['det_imgs'], s['gt_boxes'][order], s['gt_labels'][order],
                s['gt_imgs'][order], k,
                gt_ignore=s['gt_difficult'][order], iou_thrs=(0.5, ),
                legacy_coords=True, modes=(mode, ))
            return float(res['mAP'][mode][0]), res['ap'][mode][0]
    else:
        from mmdet.evaluation.functional import eval_map
        dets, anns = mmdet_inputs(s)

        def run():
            ref_map, ref = eval_map(
                dets, anns, iou_thr=0.5, logger='silent', nproc=4,
                use_legacy_coordinate=True, eval_mode=mode)
            return float(ref_map), np.array([r['ap'] for r in ref],
                                            dtype=np.float64)
    base = harness.reset_peak_rss()
    (m_ap, ap), seconds = harness.timed(run)
    return dict(seconds=seconds, mAP=m_ap, ap=ap,
                peak_mb=harness.peak_rss_mb() - base)


def mmdet_inputs(s: dict):
    """eval_map's input: per image, per class (n, 5) arrays, annotations."""
    dets, anns = [], []
    n, k = int(s['num_images']), int(s['num_classes'])
    d_split = np.searchsorted(s['det_imgs'], np.arange(n + 1))
    g_split = np.searchsorted(s['gt_imgs'], np.arange(n + 1))
    for i in range(n):
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
    return dets, anns


# A peer's whole job in a fresh process: argv = name, gt, res, out json.
# It imports its library only (not this module, which loads numpy, orjson
# and mmext): the peer pays for exactly what it needs, as mmext does.
PEER_SCRIPT = """
import contextlib, io, json, sys
name, gt_file, res_file, out = sys.argv[1:]
if name == 'pycocotools':
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
elif name == 'faster-coco-eval':
    from faster_coco_eval import COCO, COCOeval_faster as COCOeval
else:
    peer = __import__({modules!r}[name])
    COCO, COCOeval = peer.COCO, peer.COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_file)
    ev = COCOeval(gt, gt.loadRes(res_file), 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
with open(out, 'w') as f:
    json.dump([float(v) for v in ev.stats], f)
""".replace('{modules!r}', repr(COCO_PEERS))


def byte_compile_mmext() -> None:
    """mmext's modules byte-compiled, as ``pip install`` leaves a package
    and as the peers are: an editable install run with
    ``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile some 200 KB of
    source in every ``files`` run (Python still reads existing ``.pyc``
    files then, and recompiles any whose source changed)."""
    import compileall
    compileall.compile_dir(osp.join(REPO, 'mmext'), quiet=1)


def run_process(cmd) -> dict:
    """Run ``cmd`` to its end: wall seconds and the process's peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors='replace')
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f'{cmd[:3]} failed ({proc.returncode}): '
                           f'{err.strip().splitlines()[-1:]}')
    # CPU time (user + sys, children it waited for included) is less
    # sensitive to other load than wall time
    return dict(seconds=seconds, peak_mb=usage.ru_maxrss / 1024,
                cpu_s=usage.ru_utime + usage.ru_stime)


def coco_files_worker(name: str, data_dir: str) -> dict:
    """One COCO contender end to end in a fresh process: the 12 stats."""
    gt_file, res_file = (osp.join(data_dir, f) for f in ('gt.json',
                                                         'res.json'))
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'stats.json')
        if name == 'mmext':
            cmd = [sys.executable, EVAL_DETS, '--gt-json', gt_file,
                   '--res-json', res_file, '--metric', 'coco', '--out', out]
        else:
            cmd = [sys.executable, '-c', PEER_SCRIPT, name, gt_file,
                   res_file, out]
        record = run_process(cmd)
        with open(out) as f:
            stats = json.load(f)
    if name == 'mmext':
        stats = [stats[f'coco/{k}'] for k in COCO_KEYS]
    return dict(record, stats=stats)


def coco_memory_worker(name: str, data_dir: str) -> dict:
    """One COCO contender on already parsed input: the 12 stats."""
    gt_file, res_file = (osp.join(data_dir, f) for f in ('gt.json',
                                                         'res.json'))
    if name == 'mmext':
        from mmext.evaluation.functional import coco_eval
        s = load_scene(data_dir)

        def run():
            res = coco_eval(
                s['det_boxes'], s['det_scores'], s['det_labels'],
                s['det_imgs'], s['gt_boxes'], s['gt_labels'], s['gt_imgs'],
                int(s['num_classes']), gt_iscrowd=s['gt_crowd'])
            return res['stats'].tolist()
    else:
        COCO, COCOeval = coco_api(name)
        with open(gt_file) as f:
            gt_in = json.load(f)
        with open(res_file) as f:
            res_in = json.load(f)

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                if name == 'pycocotools':
                    gt = COCO()  # its constructor takes a file name only
                    gt.dataset = gt_in
                    gt.createIndex()
                else:
                    gt = COCO(gt_in)
                ev = COCOeval(gt, gt.loadRes(res_in), 'bbox')
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            return [float(v) for v in ev.stats]
    base = harness.reset_peak_rss()
    stats, seconds = harness.timed(run)
    return dict(seconds=seconds, stats=stats,
                peak_mb=harness.peak_rss_mb() - base)


def coco_api(name: str):
    """``(COCO, COCOeval)`` of a peer library."""
    if name == 'pycocotools':
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, COCOeval
    if name == 'faster-coco-eval':
        from faster_coco_eval import COCO, COCOeval_faster
        return COCO, COCOeval_faster
    mod = __import__(COCO_PEERS[name])
    return mod.COCO, mod.COCOeval


def work(name: str, case: str) -> dict:
    """Worker entry: ``case`` is ``task:variant:data_dir``."""
    task, variant, data_dir = case.split(':', 2)
    if task == 'voc':
        return voc_worker(name, variant, data_dir)
    if variant == 'files':
        return coco_files_worker(name, data_dir)
    return coco_memory_worker(name, data_dir)


WORKERS = {n: (lambda case, n=n: work(n, case))
           for n in ('mmext', 'mmdet', *COCO_PEERS)}


def save_scene(s: dict, out_dir: str) -> None:
    np.savez(osp.join(out_dir, 'scene.npz'), **{
        k: v for k, v in s.items() if isinstance(v, np.ndarray)
    }, num_images=s['num_images'], num_classes=s['num_classes'])


def bench_voc(session, scene) -> list:
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        save_scene(scene, tmp)
        # both modes in one worker process per contender and round
        cases = {f'voc:{mode}:{tmp}': mode for mode in ('11points', 'area')}
        all_runs = session.compare_cases(__file__, ['mmext', 'mmdet'],
                                         list(cases))
        for case, mode in cases.items():
            ours, peer = all_runs[case]['mmext'], all_runs[case]['mmdet']
            diff, extra = None, {}
            if 'error' not in ours and 'error' not in peer:
                diff = max(abs(ours['mAP'] - peer['mAP']),
                           float(np.nanmax(np.abs(ours['ap'] - peer['ap']))))
                extra = dict(ours_mAP=ours['mAP'], peer_mAP=peer['mAP'])
            lines.append(session.line(
                f'voc_eval_{mode}', ours, peer,
                peer='mmdet.eval_map(nproc=4)', max_abs_diff=diff, **extra))
    return lines


def bench_coco(session, scene, forms, peers) -> list:
    available = []
    for peer in peers:
        try:
            __import__(COCO_PEERS[peer])
            available.append(peer)
        except ImportError as e:
            print(f'skipping {peer}: not installed ({e})')
    lines = []
    byte_compile_mmext()
    with tempfile.TemporaryDirectory() as tmp:
        write_coco_inputs(scene, tmp)
        for form in forms:
            runs = session.compare(__file__, ['mmext', *available],
                                   f'coco:{form}:{tmp}')
            ours = runs['mmext']
            for peer in available:
                run = runs[peer]
                diff, extra = None, {}
                if 'error' not in ours and 'error' not in run:
                    diff = float(np.max(np.abs(
                        np.subtract(ours['stats'], run['stats']))))
                    extra = dict(ours_AP=ours['stats'][0],
                                 peer_AP=run['stats'][0],
                                 ours_peak_mem_mb=round(ours['peak_mb'], 1),
                                 peer_peak_mem_mb=round(run['peak_mb'], 1))
                if 'cpu_s' in ours:
                    extra.update(ours_cpu_s=round(ours['cpu_s'], 3),
                                 peer_cpu_s=round(run['cpu_s'], 3))
                lines.append(session.line(
                    f'coco_eval_{form}', ours, run, peer=peer,
                    max_abs_diff=diff, **extra))
    return lines


def bench_scaling(args, sizes) -> list:
    """mmext end to end from files at each size: one line per size against
    linear growth from the smallest size, with its peak RSS."""
    runs = {}
    byte_compile_mmext()
    with harness.Session(args) as session:
        for num_dets in sizes:
            rng = np.random.default_rng(num_dets)
            scene = make_scene(rng, max(num_dets // 100, 1), 80, 7.2, 100,
                               0.0, 0.01, integer=False)
            with tempfile.TemporaryDirectory() as tmp:
                write_coco_inputs(scene, tmp)
                del scene
                runs[num_dets] = session.compare(
                    __file__, ['mmext'], f'coco:files:{tmp}')['mmext']
            print(f'scaling: {num_dets} dets done', flush=True)
        base_n = sizes[0]
        lines = []
        for i, num_dets in enumerate(sizes):
            run, base = runs[num_dets], runs[base_n]
            prev_n = sizes[max(i - 1, 0)]
            prev = runs[prev_n]
            linear = dict(base, seconds=base.get('seconds', 0) * num_dets /
                          base_n) if 'error' not in base else base
            extra = {} if 'error' in run else dict(
                dets=num_dets, ours_peak_mem_mb=round(run['peak_mb'], 1),
                us_per_det=round(run['seconds'] / num_dets * 1e6, 3),
                within_2gb=run['peak_mb'] <= 2048)
            if 'error' not in run and 'error' not in prev and i:
                # time ratio over size ratio from the previous size: 1.0
                # is linear, below it better (fixed costs amortized)
                extra['growth_vs_previous'] = round(
                    run['seconds'] / prev['seconds'] * prev_n / num_dets, 3)
            lines.append(session.line(
                f'coco_scaling_{num_dets}', run, linear,
                peer=f'linear from {base_n} dets', **extra))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=float, default=1.0,
                        help='fraction of the full-size image counts of the '
                        'VOC and COCO comparisons (default 1)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: --scale 0.02, scaling at 5k and 50k '
                        'detections')
    parser.add_argument('--only', nargs='+',
                        choices=('voc', 'coco', 'scaling'),
                        default=('voc', 'coco', 'scaling'))
    parser.add_argument('--forms', nargs='+', choices=('files', 'memory'),
                        default=('files', 'memory'),
                        help='COCO input forms to compare')
    parser.add_argument('--peers', nargs='+', choices=tuple(COCO_PEERS),
                        default=tuple(COCO_PEERS),
                        help='COCO evaluators to compare with')
    parser.add_argument('--scaling-dets', nargs='+', type=int,
                        default=(50_000, 500_000, 5_000_000),
                        help='detection counts of the scaling lines '
                        '(100 per image)')
    harness.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        harness.serve(WORKERS, args)
        harness.end_worker()
    if args.quick:
        args.scale, args.scaling_dets = 0.02, (5_000, 50_000)
    rng = np.random.default_rng(0)
    lines = []
    with harness.Session(args) as session:
        if 'voc' in args.only:
            voc = make_scene(rng, int(4952 * args.scale), 20, 2.4, 100, 0.15,
                             0.0, integer=True)
            print(f"VOC scene: {voc['num_images']} images, "
                  f"{len(voc['gt_labels'])} GT, {len(voc['det_labels'])} "
                  'dets', flush=True)
            lines += bench_voc(session, voc)
        if 'coco' in args.only:
            coco = make_scene(rng, int(5000 * args.scale), 80, 7.2, 100, 0.0,
                              0.01, integer=False)
            print(f"COCO scene: {coco['num_images']} images, "
                  f"{len(coco['gt_labels'])} GT, {len(coco['det_labels'])} "
                  'dets', flush=True)
            lines += bench_coco(session, coco, args.forms, args.peers)
    if 'scaling' in args.only:
        lines += bench_scaling(args, sorted(args.scaling_dets))
    harness.emit(lines)


if __name__ == '__main__':
    main()
