"""Random detection scenes (flat GT and detection arrays) for the evaluator
tests and their oracles."""
import numpy as np


def random_scene(seed: int,
                 num_images: int = 8,
                 num_classes: int = 4,
                 max_gts: int = 6,
                 max_dets: int = 30,
                 integer: bool = True,
                 crowd_frac: float = 0.1,
                 ignore_frac: float = 0.15,
                 many_dets_image: bool = False) -> dict:
    """Flat GT and detection arrays over ``num_images`` images.

    Detections are jittered GTs plus random boxes, scores are distinct (tie
    free); some images have no GT, some no detections. Per image the GTs
    are listed non-ignored first (mmdet's ``eval_map`` order).
    """
    rng = np.random.default_rng(seed)

    def boxes(n):
        wh = np.exp(rng.uniform(np.log(2), np.log(300), (n, 2)))
        xy = rng.uniform(0, 400, (n, 2))
        b = np.concatenate([xy, xy + wh], axis=1)
        return np.floor(b) if integer else b

    gts = dict(boxes=[], labels=[], imgs=[], crowd=[], ignore=[])
    dets = dict(boxes=[], labels=[], imgs=[])
    for i in range(num_images):
        n = int(rng.integers(0, max_gts + 1)) if i % 5 != 1 else 0
        b = boxes(n)
        lab = rng.integers(0, num_classes, n)
        ign = rng.random(n) < ignore_frac
        crowd = (rng.random(n) < crowd_frac) & ~ign
        srt = np.argsort(ign, kind='stable')
        for k, v in zip(('boxes', 'labels', 'imgs', 'crowd', 'ignore'),
                        (b, lab, np.full(n, i), crowd, ign)):
            gts[k].append(v[srt])
        if i % 7 == 3:
            continue  # an image without detections
        m = int(rng.integers(0, max_dets + 1))
        if many_dets_image and i == 0:
            m = 150
        from_gt = min(n, m // 2) if n else 0
        j = rng.integers(0, max(n, 1), from_gt)
        jit = b[j] + rng.normal(0, 4, (from_gt, 4)) if n else np.zeros(
            (0, 4))
        db = np.concatenate([jit, boxes(m - from_gt)])
        db[:, 2:] = np.maximum(db[:, 2:], db[:, :2] + 1)
        if integer:
            db = np.round(db)
        dl = np.concatenate(
            [lab[j] if n else np.zeros(0, int),
             rng.integers(0, num_classes, m - from_gt)])
        # one in ten jittered boxes gets a wrong label
        flip = rng.random(m) < 0.1
        dl[flip] = rng.integers(0, num_classes, flip.sum())
        dets['boxes'].append(db)
        dets['labels'].append(dl)
        dets['imgs'].append(np.full(m, i))
    out = {}
    for prefix, d in (('gt_', gts), ('det_', dets)):
        for k, v in d.items():
            arr = np.concatenate(v) if v else np.zeros(0)
            out[prefix + k] = arr.reshape(-1, 4) if k == 'boxes' else arr
    out['gt_labels'] = out['gt_labels'].astype(np.int64)
    out['det_labels'] = out['det_labels'].astype(np.int64)
    out['gt_imgs'] = out['gt_imgs'].astype(np.int64)
    out['det_imgs'] = out['det_imgs'].astype(np.int64)
    out['gt_crowd'] = out['gt_crowd'].astype(bool)
    out['gt_ignore'] = out['gt_ignore'].astype(bool)
    # distinct scores: a random permutation scaled into (0, 1)
    nd = len(out['det_labels'])
    out['det_scores'] = (rng.permutation(nd) + 1) / (nd + 1)
    out['num_images'] = num_images
    out['num_classes'] = num_classes
    return out
