"""``--resume`` without a path: the newest checkpoint of the work dir that
loads (``mmext.engine.find_resumable_checkpoint``, ``tools/train.py``)."""
import os
import os.path as osp
import re
import shutil
import time
import warnings

import pytest
import torch
from mmengine.config import Config

from mmext.engine import checkpoint_load_error, find_resumable_checkpoint
from tests.helpers.durable_toy import toy_config, toy_runner
from tools.train import build_train_config, parse_args


def set_mtime_order(*paths):
    """Give ``paths`` increasing modification times, oldest first."""
    now = time.time()
    for i, path in enumerate(paths):
        os.utime(path, (now - 100 + i, now - 100 + i))


@pytest.fixture(scope='module')
def toy_checkpoints(tmp_path_factory):
    """iter_1.pth ... iter_3.pth of a real toy run."""
    work_dir = tmp_path_factory.mktemp('toy_checkpoints')
    toy_runner(work_dir, max_iters=3, interval=1).train()
    return work_dir


def copy_checkpoints(src, dst, *names_):
    os.makedirs(dst, exist_ok=True)
    paths = [shutil.copy(osp.join(src, n), osp.join(dst, n)) for n in names_]
    set_mtime_order(*paths)
    return paths


def test_resumable_skips_truncated_newest_with_warning(toy_checkpoints,
                                                       tmp_path):
    iter_2, iter_3 = copy_checkpoints(toy_checkpoints, tmp_path, 'iter_2.pth',
                                      'iter_3.pth')
    size = osp.getsize(iter_3)
    with open(iter_3, 'r+b') as f:
        f.truncate(size // 2)
    set_mtime_order(iter_2, iter_3)
    assert checkpoint_load_error(iter_2) is None
    assert checkpoint_load_error(iter_3) is not None
    with pytest.warns(UserWarning, match=re.escape(iter_3)):
        assert find_resumable_checkpoint(str(tmp_path)) == iter_2


def test_resumable_skips_files_that_are_not_runner_checkpoints(
        toy_checkpoints, tmp_path):
    (iter_1, ) = copy_checkpoints(toy_checkpoints, tmp_path, 'iter_1.pth')
    weights_only = str(tmp_path / 'iter_7.pth')
    torch.save(dict(weight=torch.zeros(2)), weights_only)
    garbage = str(tmp_path / 'epoch_8.pth')
    with open(garbage, 'wb') as f:
        f.write(b'not a checkpoint')
    set_mtime_order(iter_1, weights_only, garbage)
    with pytest.warns(UserWarning) as record:
        assert find_resumable_checkpoint(str(tmp_path)) == iter_1
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert garbage in messages[0]
    assert weights_only in messages[1] and 'no meta' in messages[1]


def test_resumable_newest_is_last_modified_and_follows_last_checkpoint(
        toy_checkpoints, tmp_path):
    # a new run in an old work dir: its iter_1 is newer than the old iter_3
    old_3, new_1 = copy_checkpoints(toy_checkpoints, tmp_path / 'work',
                                    'iter_3.pth', 'iter_1.pth')
    assert find_resumable_checkpoint(str(tmp_path / 'work')) == new_1
    # a hook out_dir elsewhere: found through last_checkpoint, newer files
    # of that directory included
    elsewhere = copy_checkpoints(toy_checkpoints, tmp_path / 'out',
                                 'iter_1.pth', 'iter_2.pth')
    (tmp_path / 'work' / 'last_checkpoint').write_text(elsewhere[0])
    assert find_resumable_checkpoint(str(tmp_path / 'work')) == elsewhere[1]


def test_resumable_none_in_empty_work_dir(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert find_resumable_checkpoint(str(tmp_path)) is None


def test_train_tool_resume_auto_uses_newest_loadable(toy_checkpoints,
                                                     tmp_path):
    config = str(tmp_path / 'toy.py')
    Config(toy_config(str(tmp_path / 'work'))).dump(config)
    args = parse_args([config, '--work-dir', str(tmp_path / 'work'),
                       '--resume'])
    cfg = build_train_config(args)
    assert cfg.resume is False and cfg.load_from is None  # nothing yet
    iter_1, iter_2 = copy_checkpoints(toy_checkpoints, tmp_path / 'work',
                                      'iter_1.pth', 'iter_2.pth')
    with open(iter_2, 'r+b') as f:
        f.truncate(1000)
    set_mtime_order(iter_1, iter_2)
    with pytest.warns(UserWarning, match='iter_2.pth'):
        cfg = build_train_config(args)
    assert cfg.resume is True and cfg.load_from == iter_1
