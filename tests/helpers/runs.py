"""Training and test runs of the shipped tiny configs, done once per test
session and shared (read-only) by every test that needs a trained model.

The conftest turns these into session fixtures. Under pytest-xdist the
workers share one run: the first to ask builds it under a file lock in the
folder common to all workers, the others wait and read it. Tests never
write into a shared run: they copy what they change into their own
``tmp_path``.
"""
import os
import os.path as osp
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.helpers.configs import write_short_config
from tests.helpers.logs import run_metrics
from tests.helpers.paths import TINY_MULTILABEL_CONFIG
from tests.helpers.process import run_tool


def shared_once(tmp_path_factory, name: str, build: Callable[[Path], object]):
    """``build(folder)`` once per session, or once for all xdist workers.

    ``build`` must be deterministic in what it returns from ``folder``: each
    worker calls it again on the finished folder only when ``.done`` is
    missing, so a result that lives in files is built once.
    """
    from filelock import FileLock
    base = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        base = base.parent  # common to the workers of this run
    folder = base / f'shared-{name}'
    with FileLock(str(folder) + '.lock'):
        done = folder / '.done'
        if not done.exists():
            folder.mkdir(exist_ok=True)
            result = build(folder)
            with open(folder / 'result.pkl', 'wb') as f:
                pickle.dump(result, f)
            done.touch()
    with open(folder / 'result.pkl', 'rb') as f:
        return pickle.load(f)


@dataclass
class TrainedRun:
    """A finished ``tools/train.py`` run.

    Attributes:
        config (str): The config it trained.
        work_dir (Path): Its work dir (checkpoints, ``<timestamp>/`` logs).
        log (str): Everything it printed.
    """
    config: str
    work_dir: Path
    log: str


@dataclass
class TestedRun:
    """A finished ``tools/test.py`` run of a :class:`TrainedRun` checkpoint.

    Attributes:
        config (str): The test config (its evaluators included).
        checkpoint (str): The checkpoint it tested.
        work_dir (Path): Its work dir.
        log (str): Everything it printed.
        metrics (dict): The metrics it logged, full precision.
        results_pkl (str): mmengine's ``DumpResults`` pickle of the run.
        results_json (str): The COCO-style results json (``--out x.json``),
            empty where the run wrote none.
    """
    config: str
    checkpoint: str
    work_dir: Path
    log: str
    metrics: dict
    results_pkl: str
    results_json: str = ''


# The tiny Faster R-CNN: 4 iterations of 2 images, a checkpoint every 2 (the
# shipped DurableCheckpointHook keeping the last one and the best voc07/mAP),
# validation on 8 test images after iterations 2 and 4, every box kept (the
# barely trained model scores all under mmdet's 0.05) and VOC AP at IoU 0.1
# as well (where it finds some objects). One image per batch: outputs do
# not depend on the batch-mate an image is padded to, so a 2-process test
# equals the single-process one exactly.
DETECTOR_ITERS = 4
DETECTOR_VAL_IMAGES = 8
DETECTOR_EXTRA = """
model = dict(test_cfg=dict(rcnn=dict(score_thr=0.0)))
val_evaluator = dict(iou_thrs=[0.1, 0.5])
test_evaluator = val_evaluator
"""


def train_tiny_detector(folder: Path) -> TrainedRun:
    """``tools/train.py`` on the demo config, short schedule."""
    config = write_short_config(folder, iters=DETECTOR_ITERS,
                                val_images=DETECTOR_VAL_IMAGES,
                                val_batch_size=1, val_interval=2,
                                max_keep_ckpts=1,
                                extra=DETECTOR_EXTRA)
    work_dir = folder / 'work_dir'
    log = run_tool('tools/train.py', config, '--work-dir', str(work_dir))
    return TrainedRun(config, work_dir, log)


def detector_test_config(folder: Path, train_config: str,
                         dump_pkl: str) -> str:
    """A test config of ``train_config`` whose evaluators also dump the
    predictions to ``dump_pkl``."""
    from mmengine.config import Config
    evaluator = Config.fromfile(train_config).test_evaluator.to_dict()
    evaluator.pop('_delete_', None)
    path = folder / 'test_config.py'
    path.write_text(f"""
_base_ = {train_config!r}
test_evaluator = [{evaluator!r},
                  dict(type='DumpResults', out_file_path={dump_pkl!r})]
""")
    return str(path)


def test_tiny_detector(folder: Path, trained: TrainedRun) -> TestedRun:
    """``tools/test.py`` on the last checkpoint: metrics, a pickle dump, a
    results json and drawn predictions (``<work_dir>/<ts>/vis``) in one
    run."""
    pkl = str(folder / 'results.pkl')
    config = detector_test_config(folder, trained.config, pkl)
    ckpt = str(trained.work_dir / f'iter_{DETECTOR_ITERS}.pth')
    work_dir = folder / 'work_dir'
    res_json = str(folder / 'results.json')
    log = run_tool('tools/test.py', config, ckpt, '--work-dir', str(work_dir),
                   '--out', res_json, '--show-dir', 'vis')
    return TestedRun(config, ckpt, work_dir, log, run_metrics(work_dir), pkl,
                     res_json)


test_tiny_detector.__test__ = False  # a builder, not a test


# The tiny multi-label classifier: 2 iterations, validation on 20 images.
MULTILABEL_ITERS = 2


def train_and_test_tiny_multilabel(folder: Path) -> tuple:
    """tools/train.py then tools/test.py (with a pickle dump) on the tiny
    multi-label config, in this process: mmpretrain's Runner, the shipped
    ``mmext.MultiLabelMetric`` and its per-class table, as on the command
    line (the detector runs cover the tools' process boundary)."""
    from tools.test import main as test_main
    from tools.train import main as train_main
    local_rank = os.environ.get('LOCAL_RANK')  # the tools set it
    config = write_short_config(
        folder, base=TINY_MULTILABEL_CONFIG, iters=MULTILABEL_ITERS,
        val_images=20)
    train_dir = folder / 'train'
    train_main([config, '--work-dir', str(train_dir)] +
               experiment_option('multilabel_train'))
    ckpt = str(train_dir / f'iter_{MULTILABEL_ITERS}.pth')
    test_dir = folder / 'test'
    pkl = str(folder / 'results.pkl')
    test_main([config, ckpt, '--work-dir', str(test_dir), '--out', pkl] +
              experiment_option('multilabel_test'))
    if local_rank is None:
        os.environ.pop('LOCAL_RANK', None)
    trained = TrainedRun(config, train_dir, read_run_log(train_dir))
    tested = TestedRun(config, ckpt, test_dir, read_run_log(test_dir),
                       run_metrics(test_dir), pkl)
    return trained, tested


def read_run_log(work_dir) -> str:
    """The text log(s) of the runs under ``work_dir``
    (``<timestamp>/<timestamp>.log``)."""
    import glob
    return ''.join(
        open(p).read()
        for p in sorted(glob.glob(osp.join(str(work_dir), '*', '*.log'))))


def experiment_option(prefix: str) -> list:
    """``--cfg-options experiment_name=...`` unique in this process: the
    tools name an experiment after the config and a timestamp, which two
    in-process runs in one second share, and mmengine would then reuse the
    first run's logger and visualizer."""
    global _experiments
    _experiments += 1
    return ['--cfg-options',
            f'experiment_name={prefix}_{os.getpid()}_{_experiments}']


_experiments = 0
