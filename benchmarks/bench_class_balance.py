"""Repeat-factor build time on a COCO-train-sized synthetic data set.

120k images (``--images``), 80 classes with COCO-like skew (the most
frequent class in about half of the images, the rarest in about 0.1%;
about 2.2 classes and 5.6 boxes per image; COCO train2017 has 2.9 and
7.3). The same annotations feed a minimal mmdet data set; the timed
part is what each wrapper adds on top of the loaded data set:
``mmext.RepeatFactorDataset`` vs mmengine's ``ClassBalancedDataset``, once
with mmengine's default serialised storage and once without.

Input form, the same for both: the data set object, built in memory in the
worker before the clock starts (from the same pickled data infos). Each
contender runs in its own process, interleaved over ``--rounds`` rounds,
fastest kept (see ``harness.py``); one worker process runs both storage
cases (serialised first), so the process start-up is paid once per round.

Usage: ``python benchmarks/bench_class_balance.py [--rounds 3]
[--contention]``. Last lines: one JSON per comparison; ``max_abs_diff``
compares the two index lists (ceil rounding).
"""
import argparse
import logging
import os
import os.path as osp
import pickle
import tempfile

import numpy as np

import harness

NUM_CLASSES = 80
OVERSAMPLE_THR = 0.01


def synthetic_coco(num_images: int, seed: int = 0) -> list:
    """COCO-train-like data infos: one class (person) in half of the
    images, the others log-linear from 0.1 down to 0.001."""
    rng = np.random.default_rng(seed)
    freq = np.r_[0.5, np.geomspace(0.1, 0.001, NUM_CLASSES - 1)]
    present = rng.random((num_images, NUM_CLASSES)) < freq
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


def in_memory_dataset(infos: list, **kwargs):
    """A minimal mmdet data set over data infos already in memory.

    The class is made here, not at import: mmdet's import costs seconds,
    and only the workers need it (not the parent, nor ``--help``).

    Args:
        infos (list): Data infos (see :func:`synthetic_coco`).
        **kwargs: ``BaseDetDataset`` arguments (``serialize_data``).

    Returns:
        BaseDetDataset: The loaded data set.
    """
    from mmdet.datasets import BaseDetDataset

    class InMemoryDetDataset(BaseDetDataset):
        METAINFO = dict(
            classes=tuple(f'class{c}' for c in range(NUM_CLASSES)))

        def load_data_list(self) -> list:
            # A copy: serialisation clears the returned list.
            return list(infos)

    return InMemoryDetDataset(ann_file='', pipeline=[], **kwargs)


def work(name: str, case: str) -> dict:
    """Worker: build the data set (not timed), then time the wrapper.

    ``case`` is ``serialize:infos_file`` (``serialize`` is 0 or 1).
    """
    from mmengine.logging import MMLogger

    # each contender imports its own wrapper only (mmext's also loads
    # mmpretrain's data sets: a second of start-up that is not the peer's)
    if name == 'mmext':
        from mmext.datasets.repeat_factor_dataset import \
            RepeatFactorDataset as wrapper
    else:
        from mmengine.dataset import ClassBalancedDataset as wrapper
    # mmext's wrapper logs a line on build; keep the output short.
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    serialize, infos_file = case.split(':', 1)
    with open(infos_file, 'rb') as f:
        infos = pickle.load(f)
    dataset = in_memory_dataset(infos, serialize_data=serialize == '1')
    built, seconds = harness.timed(wrapper, dataset,
                                   oversample_thr=OVERSAMPLE_THR)
    indices = np.asarray(built.slot_to_image if name == 'mmext' else
                         built.repeat_indices)
    return dict(seconds=seconds, indices=indices)


WORKERS = {n: (lambda case, n=n: work(n, case)) for n in ('mmext',
                                                          'mmengine')}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=120_000,
                        help='images in the synthetic data set (default '
                        '120000, COCO train size)')
    harness.add_arguments(parser)
    args = parser.parse_args()
    if args.worker:
        harness.serve(WORKERS, args)
        harness.end_worker()
    infos, gen_s = harness.timed(synthetic_coco, args.images)
    print(f'generated {len(infos)} images, '
          f'{sum(len(i["instances"]) for i in infos)} boxes in {gen_s:.1f} s',
          flush=True)
    lines = []
    with tempfile.TemporaryDirectory() as tmp, harness.Session(args) as s:
        infos_file = osp.join(tmp, 'infos.pkl')
        with open(infos_file, 'wb') as f:
            pickle.dump(infos, f, protocol=pickle.HIGHEST_PROTOCOL)
        # both storages in one worker process per contender and round
        cases = {f'{int(ser)}:{infos_file}': ser for ser in (True, False)}
        all_runs = s.compare_cases(__file__, list(WORKERS), list(cases))
        for case, serialize in cases.items():
            ours, peer = all_runs[case]['mmext'], all_runs[case]['mmengine']
            diff, extra = None, {}
            if 'error' not in ours and 'error' not in peer:
                a, b = ours['indices'], peer['indices']
                # different lengths: no elementwise difference to take
                diff = float(np.abs(a - b).max()) if len(a) == len(b) \
                    else float('inf')
                extra = dict(images=len(infos), samples=len(a))
            name = f'repeat_factors_{args.images // 1000}k' + (
                '' if serialize else '_unserialized')
            lines.append(s.line(name, ours, peer,
                                peer='mmengine.ClassBalancedDataset',
                                max_abs_diff=diff, **extra))
    harness.emit(lines)


if __name__ == '__main__':
    main()
