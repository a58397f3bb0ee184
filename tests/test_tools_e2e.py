"""tools/train.py -> tools/test.py -> --resume on the tiny data.

The training and the test run are the session's shared ones
(``tiny_detector``, ``tiny_detector_test`` in the conftest); tests that
change files work on copies in their own ``tmp_path``.
"""
import glob
import json
import os.path as osp
import pickle
import shutil

import pytest
import torch

import mmext  # noqa: F401  (allow-lists mmengine checkpoint globals)
from tests.helpers.configs import write_short_config
from tests.helpers.logs import json_lines, logged_train_steps
from tests.helpers.process import run
from tests.helpers.runs import (DETECTOR_ITERS, DETECTOR_VAL_IMAGES,
                                experiment_option)
from tools.train import build_train_config, parse_args

METRIC_KEYS = ('voc07/mAP', 'voc07/AP10', 'voc07/AP50', 'coco/AP',
               'coco/AP50', 'coco/AR100')


def validation_records(work_dir) -> list:
    """The metrics of each validation in ``scalars.json``, in order."""
    (path, ) = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                                  'scalars.json'))
    return [rec for rec in json_lines(path) if 'voc07/mAP' in rec]


@pytest.mark.slow
def test_train_writes_checkpoints_and_logs(tiny_detector):
    work_dir = tiny_detector.work_dir
    # the shipped DurableCheckpointHook: the last checkpoint and the best
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == [
        f'iter_{DETECTOR_ITERS}.pth'
    ]
    (best, ) = work_dir.glob('best_voc07_mAP_iter_*.pth')
    assert (work_dir / 'last_checkpoint').read_text() == str(
        work_dir / f'iter_{DETECTOR_ITERS}.pth')
    assert logged_train_steps(work_dir) == list(range(1, DETECTOR_ITERS + 1))
    validations = validation_records(work_dir)  # after iterations 2 and 4
    assert len(validations) == 2
    for record in validations:
        assert set(METRIC_KEYS) <= set(record)
    # the best checkpoint is the validation with the highest voc07/mAP
    # (the first of equals: mmengine's rule 'greater' keeps it)
    best_iter = 2 if validations[0]['voc07/mAP'] >= validations[1][
        'voc07/mAP'] else 4
    assert best.name == f'best_voc07_mAP_iter_{best_iter}.pth'


@pytest.mark.slow
def test_test_run_reproduces_the_last_validation(tiny_detector,
                                                 tiny_detector_test):
    """The checkpoint, loaded by tools/test.py in a new process, gives the
    metrics the training logged for the same model on the same images."""
    logged = validation_records(tiny_detector.work_dir)[-1]
    tested = tiny_detector_test.metrics
    keys = [k for k in logged if k.startswith(('voc07/', 'coco/'))]
    assert set(METRIC_KEYS) <= set(keys)
    assert {k: tested[k] for k in keys} == {k: logged[k] for k in keys}
    assert tested['voc07/AP10'] > 0  # a barely trained, but real, model


@pytest.mark.slow
def test_checkpoint_loads_with_weights_only_default(tiny_detector):
    """torch>=2.6 refuses the checkpoint without mmext's allow-list."""
    ckpt = str(tiny_detector.work_dir / f'iter_{DETECTOR_ITERS}.pth')
    code = '''
import sys, torch
try:
    torch.load(sys.argv[1])
except Exception as err:
    print('plain load failed:', type(err).__name__, 'weights_only' in str(err))
import mmext
print('iter', torch.load(sys.argv[1])['meta']['iter'])
'''
    out = run(['python', '-c', code, ckpt]).stdout.splitlines()
    assert out == ['plain load failed: UnpicklingError True',
                   f'iter {DETECTOR_ITERS}']
    state = torch.load(ckpt, map_location='cpu')
    assert any(k.startswith('backbone.') for k in state['state_dict'])


@pytest.mark.slow
def test_test_tool_evaluates_checkpoint_and_dumps(tiny_detector_test):
    tested = tiny_detector_test
    assert f'Load checkpoint from {tested.checkpoint}' in tested.log
    with open(tested.results_pkl, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == DETECTOR_VAL_IMAGES
    assert all(len(r['pred_instances']['bboxes']) > 0 for r in results)
    drawn = glob.glob(osp.join(str(tested.work_dir), '*', 'vis', '*.jpg'))
    assert len(drawn) == DETECTOR_VAL_IMAGES


@pytest.mark.slow
def test_resume_auto_finds_latest(tiny_detector, tmp_path, capfd,
                                  monkeypatch):
    """--resume without a path, in a work dir of its own holding a copy of
    the shared run's checkpoint (never the shared work dir itself). In
    this process: the tool's main() is the command line's, and the
    session's training covers the tool's own process."""
    from tools.train import main
    monkeypatch.setenv('LOCAL_RANK', '0')  # what the tool sets, restored
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    shutil.copy(tiny_detector.work_dir / f'iter_{DETECTOR_ITERS}.pth',
                work_dir)
    main([tiny_detector.config, '--work-dir', str(work_dir), '--resume',
          '--cfg-options', f'train_cfg.max_iters={DETECTOR_ITERS + 1}',
          # no validation, not even the one after the last iteration
          'train_cfg.val_begin=100'] + experiment_option('resume_auto'))
    printed = capfd.readouterr()
    log = printed.out + printed.err
    assert f'resumed epoch: 0, iter: {DETECTOR_ITERS}' in log
    assert logged_train_steps(work_dir) == [DETECTOR_ITERS + 1]
    saved = torch.load(work_dir / f'iter_{DETECTOR_ITERS + 1}.pth',
                       map_location='cpu')
    assert saved['meta']['iter'] == DETECTOR_ITERS + 1
    assert not (work_dir / f'iter_{DETECTOR_ITERS}.pth').exists()


def test_resume_with_a_path_loads_that_checkpoint(tmp_path, monkeypatch):
    """--resume PATH: the Runner resumes from PATH (the run above checks
    what the Runner does with it)."""
    monkeypatch.setenv('LOCAL_RANK', '0')  # what the tool sets, restored
    ckpt = str(tmp_path / 'elsewhere' / 'iter_2.pth')
    cfg = build_train_config(parse_args([
        write_short_config(tmp_path), '--work-dir', str(tmp_path / 'wd'),
        '--resume', ckpt
    ]))
    assert cfg.resume is True and cfg.load_from == ckpt


@pytest.mark.slow
def test_plain_mmdet_config_runs_through_our_train_tool(tmp_path,
                                                        monkeypatch):
    """A config without any mmext module trains with tools/train.py (in
    this process: its main() is the command line's)."""
    from mmengine.config import Config
    from tools.train import main
    monkeypatch.setenv('LOCAL_RANK', '0')  # what the tool sets, restored
    # mmdet's own VOCMetric and CheckpointHook: nothing from mmext
    plain = Config.fromfile(write_short_config(tmp_path, iters=1,
                                               val_images=2))
    plain.val_evaluator = dict(type='VOCMetric', metric='mAP')
    plain.merge_from_dict({
        'default_hooks.checkpoint.type': 'CheckpointHook',
        'default_hooks.checkpoint.save_best': None,
        'custom_imports.imports': [],
        'custom_hooks': [],
    })
    plain.test_evaluator = plain.val_evaluator
    assert 'mmext' not in plain.pretty_text
    plain.dump(str(tmp_path / 'plain_mmdet.py'))
    main([str(tmp_path / 'plain_mmdet.py'), '--work-dir',
          str(tmp_path / 'wd')] + experiment_option('plain_mmdet'))
    assert (tmp_path / 'wd' / 'iter_1.pth').is_file()
    (log, ) = glob.glob(str(tmp_path / 'wd' / '*' / '*.log'))
    assert 'pascal_voc/mAP' in open(log).read()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_data_errors_print_once_without_traceback(tmp_path, tool, capfd,
                                                  monkeypatch):
    """data_root=X moves every dataset; the missing root is named once for
    all the dataloaders that share it, as a message, before the Runner.

    In this process: the tool ends in ``sys.exit(message)``, which Python
    prints to stderr, without a traceback, with exit status 1."""
    import importlib
    main = importlib.import_module(f'tools.{tool}').main
    monkeypatch.setenv('LOCAL_RANK', '0')  # what the tool sets, restored
    config = write_short_config(tmp_path)
    args = [config] + (['none.pth'] if tool == 'test' else [])
    with pytest.raises(SystemExit) as exited:
        main(args + ['--work-dir', str(tmp_path / 'wd'), '--cfg-options',
                     'data_root=/nonexistent/VOCdevkit/'])
    message = exited.value.code
    roles = 'train, val, test datasets' if tool == 'train' else 'test dataset'
    assert message == (
        f'error: data root /nonexistent/VOCdevkit/ (of the {roles}) not '
        'found: run tools/misc/download_voc.py or fix data_root in your '
        'config')
    printed = capfd.readouterr()
    assert 'Traceback' not in printed.err
    assert (printed.out + printed.err).count('/nonexistent/VOCdevkit/') == 0
    assert not (tmp_path / 'wd').exists() or not list(
        (tmp_path / 'wd').glob('*.pth'))


@pytest.mark.slow
def test_test_tool_writes_results_json(tiny_detector_test):
    """--out x.json: the dumped boxes as COCO-style results, which eval_dets
    reads back with the config to the same metrics."""
    from mmext.evaluation.results_json import to_coco_results
    from tools.analysis import eval_dets
    tested = tiny_detector_test
    entries = json.loads(open(tested.results_json).read())
    with open(tested.results_pkl, 'rb') as f:
        dump = [dict(img_id=p['img_id'], **{
            k: p['pred_instances'][k].numpy()
            for k in ('bboxes', 'scores', 'labels')
        }) for p in pickle.load(f)]
    assert len({e['image_id'] for e in entries}) == DETECTOR_VAL_IMAGES
    assert entries == to_coco_results(dump, list(range(20)))  # VOC: labels
    args = ['--config', tested.config, '--metric', 'voc07', 'coco',
            '--iou-thrs', '0.1', '0.5']
    from_json = eval_dets.main(['--res-json', tested.results_json] + args)
    from_pkl = eval_dets.main(['--pkl', tested.results_pkl] + args)
    assert from_json == pytest.approx(from_pkl, abs=1e-12, nan_ok=True)


@pytest.mark.slow
def test_eval_dets_on_the_dump_equals_the_online_metric(tiny_detector_test):
    """tools/analysis/eval_dets.py on the results.pkl that tools/test.py
    wrote equals what the test run's DetectionAP logged (full precision),
    every key."""
    from tools.analysis import eval_dets
    tested = tiny_detector_test
    offline = eval_dets.main(['--pkl', tested.results_pkl, '--config',
                              tested.config, '--metric', 'voc07', 'coco',
                              '--iou-thrs', '0.1', '0.5'])
    online = {k: v for k, v in tested.metrics.items()
              if k.startswith(('voc07/', 'coco/'))}
    assert set(METRIC_KEYS) <= set(online)
    assert online['voc07/AP10'] > 0
    assert set(online) <= set(offline)
    assert {k: offline[k] for k in online} == pytest.approx(
        online, abs=1e-12, rel=0)
