"""train.py -> test.py -> --resume, through subprocesses, on the tiny data."""
import json
import os.path as osp
import pickle
import re
import subprocess
import sys

import pytest
import torch

import mmext  # noqa: F401  (allow-lists mmengine checkpoint globals)

from tests.conftest import REPO_ROOT, python_env, run_ok
from tests.tiny_configs import write_short_config


def run_tool(*args):
    return run_ok([sys.executable, *args])


def logged_train_steps(work_dir) -> list:
    """Training iterations recorded in the scalars.json of every run."""
    steps = []
    for path in sorted(
            glob_one for glob_one in _glob(work_dir, '*/vis_data/scalars.json')):
        with open(path) as f:
            steps += [
                rec['iter'] for rec in map(json.loads, f) if 'loss' in rec
            ]
    return steps


def _glob(root, pattern):
    import glob
    return glob.glob(osp.join(root, pattern))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train 4 iterations once; checkpoints at iterations 2 and 4."""
    tmp = tmp_path_factory.mktemp('train')
    config = write_short_config(tmp)
    work_dir = tmp / 'work_dir'
    log = run_tool('tools/train.py', config, '--work-dir', str(work_dir))
    return config, work_dir, log


def test_train_writes_checkpoints_and_logs(trained):
    _, work_dir, log = trained
    assert (work_dir / 'iter_2.pth').is_file()
    assert (work_dir / 'iter_4.pth').is_file()
    assert logged_train_steps(work_dir) == [1, 2, 3, 4]
    assert 'voc07/mAP' in log and 'coco/AP50' in log


def test_checkpoint_loads_with_weights_only_default(trained):
    """torch>=2.6 refuses the checkpoint without mmext's allow-list."""
    _, work_dir, _ = trained
    ckpt = str(work_dir / 'iter_4.pth')
    code = 'import sys, torch; torch.load(sys.argv[1])'
    plain = subprocess.run([sys.executable, '-c', code, ckpt],
                           capture_output=True, text=True)
    assert plain.returncode != 0 and 'weights_only' in plain.stderr
    with_mmext = subprocess.run(
        [sys.executable, '-c', 'import mmext; ' + code, ckpt],
        capture_output=True, text=True)
    assert with_mmext.returncode == 0, with_mmext.stderr
    state = torch.load(ckpt, map_location='cpu')
    assert state['meta']['iter'] == 4
    assert any(k.startswith('backbone.') for k in state['state_dict'])


def test_test_tool_evaluates_checkpoint_and_dumps(trained, tmp_path):
    config, work_dir, _ = trained
    out = tmp_path / 'results.pkl'
    log = run_tool('tools/test.py', config, str(work_dir / 'iter_4.pth'),
                   '--work-dir', str(tmp_path), '--out', str(out),
                   '--show-dir', 'vis')
    assert 'Load checkpoint from' in log
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 8  # val_images of the short config
    assert 'pred_instances' in results[0]
    drawn = _glob(str(tmp_path), '*/vis/*.jpg')
    assert len(drawn) == 8


def test_resume_continues_at_saved_iteration(trained, tmp_path):
    config, work_dir, _ = trained
    resume_dir = tmp_path / 'resume'
    log = run_tool('tools/train.py', config, '--work-dir', str(resume_dir),
                   '--resume', str(work_dir / 'iter_2.pth'))
    assert 'resumed epoch: 0, iter: 2' in log
    assert logged_train_steps(resume_dir) == [3, 4]


def test_resume_auto_finds_latest(trained, tmp_path):
    config, work_dir, _ = trained
    log = run_tool('tools/train.py', config, '--work-dir', str(work_dir),
                   '--resume', '--cfg-options', 'train_cfg.max_iters=5',
                   'train_cfg.val_interval=100')
    assert 'resumed epoch: 0, iter: 4' in log
    assert (work_dir / 'iter_5.pth').is_file()  # the last one is kept
    assert 'Iter(train) [5/5]' in log


def test_plain_mmdet_config_runs_through_our_train_tool(tmp_path):
    """A config without any mmext module still trains with tools/train.py."""
    config = tmp_path / 'plain_mmdet.py'
    # mmdet's own VOCMetric as evaluator: nothing from mmext in the graph
    config.write_text(
        open(write_short_config(tmp_path)).read().replace(
            '_base_ =', "custom_imports = dict(imports=[])\n_base_ =") +
        "val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP')\n"
        'test_evaluator = val_evaluator\n')
    run_tool('tools/train.py', str(config), '--work-dir',
             str(tmp_path / 'wd'), '--cfg-options',
             'default_hooks.checkpoint.save_best=None', 'train_cfg.max_iters=2',
             'train_cfg.val_interval=2')
    assert (tmp_path / 'wd' / 'iter_2.pth').is_file()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_data_errors_print_once_without_traceback(tmp_path, tool):
    """data_root=X moves every dataset; the missing root is named once for
    all the dataloaders that share it, as a message, before the Runner."""
    config = write_short_config(tmp_path)
    args = [f'tools/{tool}.py', config] + (['none.pth'] if tool == 'test'
                                           else [])
    proc = subprocess.run(
        [sys.executable, *args, '--work-dir', str(tmp_path / 'wd'),
         '--cfg-options', 'data_root=/nonexistent/VOCdevkit/'],
        cwd=REPO_ROOT, env=python_env(), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    roles = 'train, val, test datasets' if tool == 'train' else 'test dataset'
    assert proc.stderr.strip().endswith(
        f'error: data root /nonexistent/VOCdevkit/ (of the {roles}) not '
        'found: run tools/misc/download_voc.py or fix data_root in your '
        'config')
    assert proc.stderr.count('/nonexistent/VOCdevkit/') == 1
    assert not (tmp_path / 'wd').exists() or not list(
        (tmp_path / 'wd').glob('*.pth'))


def test_test_tool_writes_results_json(trained, tmp_path):
    """--out x.json: the pickle's boxes as COCO-style results, which
    eval_dets reads back with the config to the same metrics."""
    from mmext.evaluation.results_json import to_coco_results
    from tools.analysis import eval_dets
    config, work_dir, _ = trained
    outs = {}
    for ext in ('json', 'pkl'):
        outs[ext] = tmp_path / f'results.{ext}'
        # the 4-iteration model scores every box under mmdet's 0.05
        log = run_tool('tools/test.py', config, str(work_dir / 'iter_4.pth'),
                       '--work-dir', str(tmp_path), '--out', str(outs[ext]),
                       '--cfg-options', 'model.test_cfg.rcnn.score_thr=0')
    entries = json.loads(outs['json'].read_text())
    with open(outs['pkl'], 'rb') as f:
        dump = [dict(img_id=p['img_id'], **{
            k: p['pred_instances'][k].numpy()
            for k in ('bboxes', 'scores', 'labels')
        }) for p in pickle.load(f)]
    assert len({e['image_id'] for e in entries}) == 8
    assert entries == to_coco_results(dump, list(range(20)))  # VOC: labels
    # a low IoU threshold gives this barely trained model a non-zero AP
    args = ['--config', config, '--metric', 'voc07', 'coco', '--iou-thrs',
            '0.1', '0.5']
    from_json = eval_dets.main(['--res-json', str(outs['json'])] + args)
    from_pkl = eval_dets.main(['--pkl', str(outs['pkl'])] + args)
    assert from_json['voc07/AP10'] > 0
    assert from_json == pytest.approx(from_pkl, abs=1e-12, nan_ok=True)
    logged = float(re.search(r'voc07/mAP: (-?[\d.]+)', log).group(1))
    assert from_json['voc07/AP50'] == pytest.approx(logged, abs=5e-5)
