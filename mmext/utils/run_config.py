"""What tools/train.py and tools/test.py share: loading a config, a Runner."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def load_run_config(config: str,
                    launcher: str = 'none',
                    cfg_options: Optional[dict] = None,
                    work_dir: Optional[str] = None) -> Config:
    """Load a config and apply the options every tool has.

    Args:
        config (str): Path of the config file.
        launcher (str): Job launcher. Defaults to ``'none'``.
        cfg_options (dict, optional): ``--cfg-options`` key-value pairs.
        work_dir (str, optional): ``--work-dir``; without it and without a
            ``work_dir`` in the config: ``./work_dirs/<config name>``.

    Returns:
        Config: The config to build the Runner from.
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
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
