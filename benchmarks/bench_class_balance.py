"""Repeat-factor build time on a COCO-train-sized synthetic data set.

120k images, 80 classes with COCO-like skew (the most frequent class in
about half of the images, the rarest in about 0.1%; about 2.2 classes and
5.6 boxes per image; COCO train2017 has 2.9 and 7.3). The same in-memory annotations feed a minimal mmdet data set; the
timed part is what each wrapper adds on top of the loaded data set:
``mmext.RepeatFactorDataset`` vs mmengine's ``ClassBalancedDataset``, once
with mmengine's default serialised storage and once without.

Last lines: one JSON per comparison; ``max_abs_diff`` compares the two
index lists (ceil rounding) of the same run.
"""
import json
import logging
import time

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmengine.dataset import ClassBalancedDataset
from mmengine.logging import MMLogger

from mmext.datasets import RepeatFactorDataset

NUM_IMAGES = 120_000
NUM_CLASSES = 80
OVERSAMPLE_THR = 0.01


def synthetic_coco(seed: int = 0) -> list:
    """COCO-train-like data infos: one class (person) in half of the
    images, the others log-linear from 0.1 down to 0.001."""
    rng = np.random.default_rng(seed)
    freq = np.r_[0.5, np.geomspace(0.1, 0.001, NUM_CLASSES - 1)]
    present = rng.random((NUM_IMAGES, NUM_CLASSES)) < freq
    empty = ~present.any(1)  # COCO train images have at least one box
    present[empty, rng.integers(0, 10, empty.sum())] = True
    boxes = rng.geometric(0.4, present.shape)  # mean 2.5 per class
    infos = []
    for i, row in enumerate(present):
        labels = np.repeat(np.flatnonzero(row), boxes[i, row]).tolist()
        infos.append(
            dict(
                img_path=f'train2017/{i:012d}.jpg',
                img_id=i,
                height=480,
                width=640,
                instances=[
                    dict(bbox=[0., 0., 32., 32.], bbox_label=c, ignore_flag=0)
                    for c in labels
                ]))
    return infos


class InMemoryDetDataset(BaseDetDataset):
    """A detection data set over a list of data infos already in memory."""
    METAINFO = dict(classes=tuple(f'class{c}' for c in range(NUM_CLASSES)))

    def __init__(self, infos: list, **kwargs):
        self._infos = infos
        super().__init__(ann_file='', pipeline=[], **kwargs)

    def load_data_list(self) -> list:
        # A copy: serialisation clears the returned list.
        return list(self._infos)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def compare(infos: list, serialize: bool) -> dict:
    dataset, read_s = timed(
        lambda: InMemoryDetDataset(infos, serialize_data=serialize))
    ours, ours_s = timed(
        lambda: RepeatFactorDataset(dataset, oversample_thr=OVERSAMPLE_THR))
    peer, peer_s = timed(
        lambda: ClassBalancedDataset(dataset, oversample_thr=OVERSAMPLE_THR))
    theirs = np.asarray(peer.repeat_indices)
    assert len(theirs) == len(ours.slot_to_image), 'lengths differ'
    diff = float(np.abs(ours.slot_to_image - theirs).max())
    print(f'serialize_data={serialize}: reading annotations {read_s:.2f} s, '
          f'{len(dataset)} -> {len(ours)} samples')
    name = 'repeat_factors_120k' + ('' if serialize else '_unserialized')
    return dict(
        bench=name,
        ours_s=round(ours_s, 4),
        peer='mmengine.ClassBalancedDataset',
        peer_s=round(peer_s, 4),
        ratio=round(peer_s / ours_s, 2),
        max_abs_diff=diff)


def main() -> None:
    # The wrapper logs its 80-row table on build; keep the output short.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    infos, gen_s = timed(synthetic_coco)
    print(f'generated {len(infos)} images, '
          f'{sum(len(i["instances"]) for i in infos)} boxes in {gen_s:.1f} s')
    results = [compare(infos, serialize) for serialize in (True, False)]
    for result in results:
        print(json.dumps(result))


if __name__ == '__main__':
    main()
