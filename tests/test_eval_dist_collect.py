"""Distributed evaluation without a shared directory: 2 gloo ranks, each
with its own TMPDIR, gather DetectionAP's compact arrays through the
process group and get a single process's numbers bit for bit."""
import os
import sys
import tempfile

import pytest

from tests.helpers.distributed import run_distributed

METRIC = dict(metric=('voc07', 'voc12', 'coco', 'proposal', 'recall'),
              iou_thrs=(0.5, 0.75), proposal_nums=(1, 10, 100),
              scale_ranges=((0, 96), (96, 1e5)), classwise=True)
# an odd number of images: the sampler pads rank 1, evaluate() cuts it
NUM_IMAGES = 59


def _record_writes(root: str) -> list:
    """Paths under ``root`` that this process creates, opens for writing,
    renames or removes from now on (a Python audit hook: observes, changes
    nothing)."""
    touched = []
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def hook(event, args):
        if event == 'open':
            path, mode, flags = args
            writing = (any(c in mode for c in 'wax+') if isinstance(
                mode, str) else bool(flags & write_flags))
        elif event in ('os.mkdir', 'os.rename', 'os.remove', 'os.rmdir',
                       'shutil.rmtree'):
            path, writing = args[0], True
        else:
            return
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(path))
            if path.startswith(root):
                touched.append(path)

    sys.addaudithook(hook)
    return touched


def _processed_metric(voc, collect_device, out_prefix=None):
    """DetectionAP that has processed ``voc`` (the tiny VOC test set's meta
    and samples) as a Runner drives it: the rank's share from mmengine's
    DefaultSampler, batches of 4."""
    from mmengine.dataset import DefaultSampler

    from mmext.evaluation.metrics.detection_ap import DetectionAP
    meta, samples = voc
    indices = list(DefaultSampler(range(NUM_IMAGES), shuffle=False))
    metric = DetectionAP(collect_device=collect_device,
                         outfile_prefix=out_prefix, **METRIC)
    metric.dataset_meta = meta
    for i in range(0, len(indices), 4):
        metric.process({}, [samples[j] for j in indices[i:i + 4]])
    return metric


def _rank(rank, world_size, voc, tmp_root, collect_device, out_prefix):
    """One rank as on a node of its own: its own TMPDIR and working
    directory (mmengine's 'cpu' collection uses ``./.dist_test``). ``voc``
    comes from the test: building the data set again in each rank took
    most of a spawn's time."""
    own = os.path.join(tmp_root, f'rank{rank}')
    os.makedirs(own)
    os.environ['TMPDIR'] = own
    tempfile.tempdir = None  # tempfile reads TMPDIR again
    metric = _processed_metric(voc, collect_device, out_prefix)
    os.chdir(own)
    # from here on: the gathering
    touched = _record_writes(tmp_root)
    return metric.evaluate(NUM_IMAGES), touched


@pytest.fixture(scope='module')
def voc():
    """The tiny VOC test set's meta and first :data:`NUM_IMAGES` samples."""
    from tests.helpers.eval_options import tiny_voc_samples
    meta, samples = tiny_voc_samples()
    return meta, samples[:NUM_IMAGES]


@pytest.fixture(scope='module')
def single_process(voc, tmp_path_factory):
    out = tmp_path_factory.mktemp('single')
    metric = _processed_metric(voc, 'group', str(out / 'res'))
    return metric.evaluate(NUM_IMAGES), (out / 'res.bbox.json').read_bytes()


@pytest.mark.slow
def test_group_gather_equals_single_process(voc, single_process, tmp_path):
    tmp_root = str(tmp_path / 'tmp')
    out = tmp_path / 'out'
    results = run_distributed(_rank, 2, voc, tmp_root, 'group',
                              str(out / 'res'), timeout=300)
    (m0, touched0), (m1, touched1) = results
    expected, json_bytes = single_process
    assert m0 == expected and m1 == expected  # bit for bit, every key
    assert 'coco/AR@100' in expected and 'voc07/mAP_scale_0-96' in expected
    # nothing written in any rank's TMPDIR or working directory: no
    # shared directory needed
    assert touched0 == [] and touched1 == []
    assert (out / 'res.bbox.json').read_bytes() == json_bytes


@pytest.mark.slow
def test_cpu_collection_fails_without_a_shared_directory(voc, tmp_path):
    """The control: mmengine's 'cpu' collection makes rank 1 write into the
    directory rank 0 created (``./.dist_test/...`` of rank 0), which rank 1
    does not have (mmengine issue 557): rank 1 fails, and rank 0, left in
    the barrier, fails or is terminated."""
    with pytest.raises(RuntimeError, match=r'workers \[(0, )?1\] exited'):
        run_distributed(_rank, 2, voc, str(tmp_path / 'tmp'), 'cpu', None,
                        timeout=300)
