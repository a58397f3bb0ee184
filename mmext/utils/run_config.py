"""What tools/train.py, tools/test.py and tools/misc/check_dataset.py share:
loading a config with its ``--cfg-options``, a Runner."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmext.datasets.nested import leaf_datasets
from mmext.datasets.voc_check import DataCheckError

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def move_data_root(cfg: Config, new_root: str) -> None:
    """Point the datasets that use the config's ``data_root`` at ``new_root``.

    Configs copy ``data_root`` into each dataset when they are parsed
    (``dataset=dict(data_root=data_root, ...)``), so overriding the top-level
    key alone changes no dataset. Here each dataset whose ``data_root`` is
    the config's, or a folder under it (``data_root + 'VOC2007/'``), is
    moved to the same place under ``new_root``.

    Args:
        cfg (Config): The loaded config, before the override is merged.
        new_root (str): The new top-level ``data_root``.

    Raises:
        DataCheckError: When the config has no top-level ``data_root`` or
            no dataset uses it, naming the datasets' roots and the keys to
            set instead.
    """
    old = cfg.get('data_root')
    if not isinstance(old, str):
        raise DataCheckError([
            f'data_root={new_root} changes nothing: the config has no '
            'top-level data_root; set <loader>.dataset.data_root instead'
        ])
    old_n = osp.normpath(old)
    moved, seen = set(), []
    for loader in LOADERS:
        if not cfg.get(loader) or not cfg[loader].get('dataset'):
            continue
        for leaf in leaf_datasets(cfg[loader]['dataset']):
            root = leaf.get('data_root')
            # a dataset dict shared by two loaders moves once
            if not isinstance(root, str) or id(leaf) in moved:
                continue
            seen.append(f'{loader}: {root}')
            root_n = osp.normpath(root)
            if root_n == old_n:
                leaf['data_root'] = new_root
            elif root_n.startswith(old_n + osp.sep):
                leaf['data_root'] = osp.join(new_root,
                                             root_n[len(old_n) + 1:])
            else:
                continue
            moved.add(id(leaf))
    if not moved:
        raise DataCheckError([
            f'data_root={new_root} changes nothing: no dataset uses the '
            f"config's data_root {old} (they use: "
            f'{"; ".join(seen) or "none"}); set '
            '<loader>.dataset.data_root instead'
        ])
    return moved


def merge_cfg_options(cfg: Config, cfg_options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` into ``cfg``; ``data_root=X`` also moves the
    datasets (see :func:`move_data_root`). A dataset's own ``data_root``
    given in the same options still wins.

    Args:
        cfg (Config): The loaded config, changed in place.
        cfg_options (dict, optional): ``--cfg-options`` key-value pairs.

    Raises:
        DataCheckError: When ``data_root=X`` would change no dataset.
    """
    if not cfg_options:
        return
    if 'data_root' in cfg_options:
        move_data_root(cfg, cfg_options['data_root'])
    cfg.merge_from_dict(cfg_options)


def load_run_config(config: str,
                    launcher: str = 'none',
                    cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None) -> Config:
    """Load a config and apply the options every tool has.

    Args:
        config (str): Path of the config file.
        launcher (str): Job launcher. Defaults to ``'none'``.
        cfg_options (dict, optional): ``--cfg-options`` key-value pairs,
            see :func:`merge_cfg_options`.
        work_dir (str, optional): ``--work-dir``; without it and without a
            ``work_dir`` in the config: ``./work_dirs/<config name>``.

    Returns:
        Config: The config to build the Runner from.
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    merge_cfg_options(cfg, cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the config's ``runner_type`` if it names one, else a Runner."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
