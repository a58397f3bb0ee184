"""DurableCheckpointHook: atomic writes, the same files as mmengine's
CheckpointHook, and training that survives kills.

Real mmengine Runners (a toy model, and the shipped tiny Faster R-CNN
config), the real ``tools/train.py``, saves broken by real failures and
runs killed with SIGKILL.
"""
import glob
import os
import os.path as osp
import random
import re
import shutil
import signal
import time
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from mmext.engine import (DurableCheckpointHook, DurableLocalBackend,
                          atomic_write, checkpoint_load_error,
                          find_resumable_checkpoint)
from mmext.engine.durable_backend import temp_path
from tests.helpers.config_cache import load_config
from tests.helpers.distributed import child_env, fork_context
from tests.helpers.durable_toy import toy_config, toy_runner, train_in_child
from tests.helpers.paths import REPO_ROOT
from tests.helpers.runs import DETECTOR_ITERS


def saved_iter(path) -> int:
    return torch.load(path, map_location='cpu')['meta']['iter']


def names(directory, pattern='*') -> list:
    return sorted(osp.basename(p) for p in glob.glob(osp.join(directory,
                                                              pattern)))


def temp_files(directory) -> list:
    return names(directory, '.*.tmp')


def last_checkpoint(work_dir) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


# atomic writes


def test_atomic_write_replaces_the_whole_file(tmp_path):
    target = tmp_path / 'f.bin'
    target.write_bytes(b'old content')
    atomic_write(target, b'new')
    assert target.read_bytes() == b'new'
    assert os.listdir(tmp_path) == ['f.bin']


def test_atomic_write_failing_rename_keeps_target_and_no_temp(tmp_path):
    # a non-empty directory as target: the temp file is written and
    # fsync'ed, then os.replace fails
    target = tmp_path / 'f.bin'
    target.mkdir()
    (target / 'inside').write_text('kept')
    with pytest.raises(OSError):
        atomic_write(target, b'new')
    assert (target / 'inside').read_text() == 'kept'
    assert not osp.exists(temp_path(target))


def test_durable_backend_is_registered_with_mmengine(tmp_path):
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend='mmext_durable_local'))
    assert isinstance(backend, DurableLocalBackend)
    backend.put_text('a\n', str(tmp_path / 'sub' / 't.txt'))
    assert (tmp_path / 'sub' / 't.txt').read_text() == 'a\n'


# the hook against mmengine's CheckpointHook


def run_with_hook(work_dir, hook_type, save_best):
    """Six toy iterations, a save each, validation and save_best every 2."""
    runner = toy_runner(
        work_dir,
        max_iters=6,
        val_interval=2,
        type=hook_type,
        interval=1,
        max_keep_ckpts=2,
        save_best=save_best,
        rule='less')
    runner.train()
    return runner


@pytest.mark.parametrize('save_best', ['mse', ['mse', 'rmse']])
def test_same_files_and_state_as_checkpoint_hook(tmp_path, save_best):
    ours = run_with_hook(tmp_path / 'ours', 'mmext.DurableCheckpointHook',
                         save_best)
    upstream = run_with_hook(tmp_path / 'upstream', 'CheckpointHook',
                             save_best)
    hooks = [h for h in ours.hooks if isinstance(h, CheckpointHook)]
    assert [type(h) for h in hooks] == [DurableCheckpointHook]
    assert isinstance(hooks[0].file_backend, DurableLocalBackend)

    listing = names(tmp_path / 'ours', '*.pth')
    assert listing == names(tmp_path / 'upstream', '*.pth')
    assert 'iter_5.pth' in listing and 'iter_6.pth' in listing
    metrics = save_best if isinstance(save_best, list) else [save_best]
    for metric in metrics:  # the previous best ones were deleted
        assert len([n for n in listing
                    if n.startswith(f'best_{metric}_iter_')]) == 1
    assert temp_files(tmp_path / 'ours') == []
    assert osp.basename(last_checkpoint(tmp_path / 'ours')) == 'iter_6.pth'
    assert last_checkpoint(tmp_path / 'upstream').endswith('iter_6.pth')
    # what the hooks keep in the message hub: paths, scores, kept steps
    info, ref = [{
        k: osp.basename(v) if isinstance(v, str) else v
        for k, v in runner.message_hub.runtime_info.items()
        if 'ckpt' in k or k.startswith('best_score')
    } for runner in (ours, upstream)]
    assert len(info) == 2 + 2 * len(metrics) and info == ref
    a = torch.load(tmp_path / 'ours' / 'iter_6.pth', map_location='cpu')
    b = torch.load(tmp_path / 'upstream' / 'iter_6.pth', map_location='cpu')
    assert a['meta']['iter'] == b['meta']['iter'] == 6
    assert all(torch.equal(a['state_dict'][k], b['state_dict'][k])
               for k in b['state_dict'])


def test_resume_finishes_a_cleanup_that_a_kill_interrupted(tmp_path):
    """A checkpoint also lists the step it replaces. Resumed from it after a
    kill that came before the deletion of that step's file, the run points
    last_checkpoint at it before deleting the stale file."""
    work_dir = tmp_path / 'work'
    toy_runner(work_dir, max_iters=3, interval=1, max_keep_ckpts=1).train()
    ckpt = torch.load(work_dir / 'iter_3.pth', map_location='cpu')
    assert ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] == [2, 3]
    # what a kill right after the rename of iter_3.pth leaves
    shutil.copy(work_dir / 'iter_3.pth', work_dir / 'iter_2.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_2.pth'))
    # resumed from iter_3.pth, the run dies at its first save
    cfg = toy_config(str(work_dir), max_iters=4, interval=1, max_keep_ckpts=1)
    runner = Runner.from_cfg(
        Config(
            dict(cfg, resume=True, load_from=str(work_dir / 'iter_3.pth'),
                 experiment_name=cfg['experiment_name'] + '_resumed',
                 custom_hooks=[dict(type='DurableToyFailingSave', at_iter=4)
                               ])))
    with pytest.raises(Exception, match='pickle'):
        runner.train()
    assert names(work_dir, 'iter_*.pth') == ['iter_3.pth']
    assert last_checkpoint(work_dir) == str(work_dir / 'iter_3.pth')


# a save that fails half-way


@pytest.mark.parametrize('failure', ['rename', 'pickle'])
@pytest.mark.parametrize('hook_type',
                         ['mmext.DurableCheckpointHook', 'CheckpointHook'])
def test_failed_save_keeps_previous_checkpoint(tmp_path, hook_type, failure):
    """Saving iteration 3 fails; with max_keep_ckpts=1 iteration 2 is the
    only checkpoint. mmengine's CheckpointHook has already deleted it."""
    work_dir = tmp_path / 'work'
    custom_hooks = []
    if failure == 'rename':
        # a non-empty directory where iter_3.pth goes: written, not renamed
        os.makedirs(work_dir / 'iter_3.pth' / 'in_the_way')
    else:
        custom_hooks = [dict(type='DurableToyFailingSave', at_iter=3)]
    cfg = toy_config(
        str(work_dir), max_iters=3, type=hook_type, interval=1,
        max_keep_ckpts=1)
    runner = Runner.from_cfg(Config(dict(cfg, custom_hooks=custom_hooks)))
    with pytest.raises(Exception) as error:
        runner.train()
    assert isinstance(error.value, OSError) == (failure == 'rename')

    named = last_checkpoint(work_dir)
    assert osp.basename(named) == 'iter_2.pth'
    if hook_type == 'CheckpointHook':  # the problem this hook solves
        assert not osp.exists(named)
        assert find_resumable_checkpoint(str(work_dir)) is None
        return
    assert checkpoint_load_error(named) is None
    assert saved_iter(named) == 2
    assert find_resumable_checkpoint(str(work_dir)) == named
    assert temp_files(work_dir) == []


# the shipped configs

CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py')))


@pytest.mark.parametrize('path', CONFIGS)
def test_shipped_configs_build_the_durable_hook(path):
    cfg = load_config(osp.join(REPO_ROOT, path))
    hook = HOOKS.build(cfg.default_hooks.checkpoint)
    assert type(hook) is DurableCheckpointHook, path


@pytest.mark.slow  # the session's training
def test_tiny_faster_rcnn_config_writes_durable_checkpoints(tiny_detector):
    """The session's tools/train.py run of the demo config (a save every 2
    iterations keeping 1, validation after 2 and 4) with the shipped hook.
    The 2-process save and resume is in test_dist_tools.py."""
    cfg = Config.fromfile(tiny_detector.config)
    hook = HOOKS.build(cfg.default_hooks.checkpoint)
    assert type(hook) is DurableCheckpointHook
    assert hook.save_best == ['voc07/mAP']  # the shipped config's

    work_dir = str(tiny_detector.work_dir)
    last = osp.join(work_dir, f'iter_{DETECTOR_ITERS}.pth')
    assert last_checkpoint(work_dir) == last
    assert names(work_dir, 'iter_*.pth') == [f'iter_{DETECTOR_ITERS}.pth']
    best = names(work_dir, 'best_*.pth')
    assert len(best) == 1 and best[0].startswith('best_voc07_mAP_iter_')
    assert temp_files(work_dir) == []
    ckpt = torch.load(last, map_location='cpu')
    assert ckpt['meta']['iter'] == DETECTOR_ITERS
    info = ckpt['message_hub']['runtime_info']
    assert osp.basename(info['best_ckpt']) == best[0]
    # a new best at iteration 4 re-saves iter_4.pth after iter_2's deletion
    assert info['keep_ckpt_ids'] == (
        [4] if best[0].endswith('iter_4.pth') else [2, 4])
    assert find_resumable_checkpoint(work_dir) == last


# SIGKILL at random moments

KILLS = 12
RESUMED = re.compile(r'resumed epoch: \d+, iter: (\d+)')
LOGGED_ITER = re.compile(r'Iter\(train\) \[\s*(\d+)/')
SAVING = re.compile(r'Saving checkpoint at (\d+) iterations')


def newest_checkpoint(work_dir):
    """(path, saved iteration) of the checkpoint --resume takes, or None.
    Every file must load: a warning (a skipped file) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        path = find_resumable_checkpoint(str(work_dir))
    return (path, saved_iter(path)) if path else None


def wait_until(ready, proc, log, what, timeout=180):
    """Poll ``ready()`` until true; fail if the training ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not proc.is_alive():
            break
        time.sleep(0.001)
    proc.kill()
    proc.join()
    tail = open(log, errors='replace').read()[-3000:] if osp.exists(
        log) else ''
    pytest.fail(f'no {what} (exit code {proc.exitcode}):\n{tail}')


def log_has(log, text, count=1):
    """A function telling whether ``text`` is ``count`` times in the log."""
    return lambda: osp.exists(log) and open(
        log, errors='replace').read().count(text) >= count


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_training(tmp_path):
    """Train the toy model with a save every iteration and max_keep_ckpts=1
    through tools/train.py --resume, SIGKILL it (at a random moment, as a
    save starts, or while a save writes its file, in turn), check the work
    dir, resume, KILLS times; then let the last run finish."""
    work_dir = tmp_path / 'work'
    config = str(tmp_path / 'toy_kill.py')
    # 2 x 1024**2 floats (weights, momentum): each save takes a while
    Config(
        toy_config(
            str(work_dir), width=1024, max_iters=10**6, interval=1,
            max_keep_ckpts=1)).dump(config)
    rng = random.Random(0)
    # pay the imports once: each run forks from a server that has them
    # (mmengine's environment report imports torchvision)
    ctx = fork_context()
    progress = []  # iteration of the newest checkpoint after each kill
    mid_save = 0  # kills that left a save unfinished
    for run in range(KILLS + 1):
        expected = newest_checkpoint(work_dir)
        final = run == KILLS
        argv = [config, '--work-dir', str(work_dir), '--resume']
        if final:
            final_iter = expected[1] + 3
            argv += ['--cfg-options', f'train_cfg.max_iters={final_iter}']
        log = str(tmp_path / f'run_{run}.log')
        proc = ctx.Process(target=train_in_child,
                           args=(argv, log, child_env()))
        proc.start()
        if final:
            proc.join(300)
            assert proc.exitcode == 0, open(log).read()[-3000:]
        else:
            wait_until(
                log_has(log, 'Checkpoints will be saved to'), proc, log,
                'start of training')
            if run % 3 == 0:  # any moment
                time.sleep(rng.uniform(0, 1.5))
            else:  # the n-th save: as it starts, or while it writes
                saves = rng.randint(1, 4)
                wait_until(
                    log_has(log, 'Saving checkpoint at', saves), proc, log,
                    f'save {saves}')
                if run % 3 == 1:
                    time.sleep(rng.uniform(0, 0.05))
                else:
                    wait_until(lambda: temp_files(work_dir), proc, log,
                               f'temporary file in save {saves}')
            proc.kill()
            proc.join()
            assert proc.exitcode == -signal.SIGKILL, open(log).read()[-3000:]
        text = open(log).read()

        # resumed from the checkpoint that was newest, at its iteration
        if expected is None:
            assert RESUMED.findall(text) == []
        else:
            assert f'Load checkpoint from {expected[0]}' in text
            assert RESUMED.findall(text) == [str(expected[1])]
            trained = [int(i) for i in LOGGED_ITER.findall(text)]
            assert trained[:1] in ([], [expected[1] + 1]), trained
        if final:
            break

        # a temp file, or the stale checkpoint not deleted yet
        mid_save += bool(temp_files(work_dir)) or len(
            names(work_dir, 'iter_*.pth')) > 1
        after = newest_checkpoint(work_dir)
        # nothing saved is ever lost: neither the checkpoint resumed from,
        # nor one whose save this run finished (it started the next one)
        saved = [int(i) for i in SAVING.findall(text)][:-1]
        if expected is not None or saved:
            least = max(([expected[1]] if expected else []) + saved[-1:])
            assert after is not None and after[1] >= least, (run, after)
        if osp.exists(work_dir / 'last_checkpoint'):
            assert checkpoint_load_error(last_checkpoint(work_dir)) is None
        progress.append(after[1] if after else 0)

    print(f'iterations after each kill: {progress}; '
          f'{mid_save} of {KILLS} kills left a save unfinished')
    assert progress[-1] >= KILLS, progress  # the kills let training advance
    # a third of the kills wait for a temporary file: most hit a write
    assert mid_save >= KILLS // 6, mid_save
    # the finished run: its last checkpoint only, complete and named
    assert names(work_dir, 'iter_*.pth') == [f'iter_{final_iter}.pth']
    assert temp_files(work_dir) == []
    assert last_checkpoint(work_dir) == str(work_dir /
                                            f'iter_{final_iter}.pth')
    assert saved_iter(work_dir / f'iter_{final_iter}.pth') == final_iter
    assert [int(i) for i in LOGGED_ITER.findall(text)
            ] == list(range(expected[1] + 1, final_iter + 1))
