"""CheckpointHook that never leaves a run without a loadable checkpoint."""
import os.path as osp
from typing import Dict, Iterable, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import FileClient, LocalBackend, get_file_backend
from mmengine.hooks import CheckpointHook

from mmext.engine.durable_backend import DURABLE_BACKEND, atomic_write
from mmext.registry import HOOKS


@HOOKS.register_module()
class DurableCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe writes and deletions.

    ``CheckpointHook`` deletes the checkpoint that ``max_keep_ckpts`` drops,
    and the previous best one, *before* writing the new one, and writes in
    place. With ``max_keep_ckpts=1`` a run killed during a save is left with
    no checkpoint, or a truncated one, and ``last_checkpoint`` naming a
    file that is gone. This hook keeps the same options, file names and
    message-hub entries, and changes the order and the way of writing:

    1. the new checkpoint (regular or best) is written to a temporary file
       in the same directory, fsync'ed and renamed over its final name
       (:class:`~mmext.engine.DurableLocalBackend`), so a checkpoint file
       is complete or absent;
    2. ``last_checkpoint`` is rewritten the same way, after the checkpoint
       it names is complete;
    3. only then are the files that ``max_keep_ckpts`` drops and the
       previous best checkpoint deleted.

    A checkpoint also lists, in ``keep_ckpt_ids``, the step it replaces:
    if the run dies before that deletion, resuming from it points
    ``last_checkpoint`` at it and then deletes the stale file. A run killed
    between writing a new best checkpoint and deleting the previous best
    may keep one extra best file.

    Atomic writes need a local ``out_dir`` (the usual case); for other
    storage (``backend_args`` or ``out_dir`` naming a remote backend) the
    files are written by that backend, in the order above. Only the main
    process writes and deletes, as in ``CheckpointHook``.

    Args:
        **kwargs: Every argument of mmengine's ``CheckpointHook``
            (``interval``, ``by_epoch``, ``max_keep_ckpts``, ``save_best``,
            ``rule``, ``out_dir``, ``filename_tmpl``, ``backend_args``,
            ``published_keys``, ``save_begin``...), with the same meaning
            and defaults.

    Example:
        >>> default_hooks = dict(
        ...     checkpoint=dict(
        ...         type='mmext.DurableCheckpointHook',
        ...         interval=1,
        ...         max_keep_ckpts=1,
        ...         save_best='voc07/mAP'))
    """

    def before_train(self, runner) -> None:
        """Select atomic writes for a local ``out_dir`` and prepare as
        ``CheckpointHook`` does, including deleting the checkpoints that a
        resumed ``keep_ckpt_ids`` has beyond ``max_keep_ckpts``, but only
        after ``last_checkpoint`` names the resumed checkpoint.

        Args:
            runner (Runner): The runner of the training process.
        """
        out_dir = runner.work_dir if self.out_dir is None else self.out_dir
        if self._is_local(out_dir):
            # every write of CheckpointHook and Runner.save_checkpoint
            # follows backend_args; the deprecated file_client_args would
            # take precedence, and names the same local disk
            self.file_client_args = None
            self.backend_args = dict(backend=DURABLE_BACKEND)
        # a run killed after writing a checkpoint and before deleting the
        # one it replaces resumes from the new one while last_checkpoint
        # still names the old one: take the deletion over from the parent
        kept = runner.message_hub.get_info('keep_ckpt_ids', [])
        stale = kept[:-self.max_keep_ckpts] if self.max_keep_ckpts > 0 \
            else []
        if stale:
            runner.message_hub.update_info('keep_ckpt_ids',
                                           kept[len(stale):])
        super().before_train(runner)
        if stale and is_main_process():
            resumed = self._step_path(kept[-1])
            if self.file_backend.exists(resumed):
                self._write_last_checkpoint(runner, resumed)
            self._remove(map(self._step_path, stale))

    def _is_local(self, out_dir: str) -> bool:
        """Whether the configured storage of ``out_dir`` is the local disk."""
        if self.file_client_args is not None:
            backend = FileClient.infer_client(self.file_client_args,
                                              out_dir).client
        else:
            backend = get_file_backend(out_dir, backend_args=self.backend_args)
        return isinstance(backend, LocalBackend)

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        """Write the checkpoint of ``step``, then ``last_checkpoint``, then
        delete the checkpoint that leaves the ``max_keep_ckpts`` window.

        Args:
            runner (Runner): The runner of the training process.
            step (int): Epoch or iteration number in the file name.
            meta (dict): Meta information saved in the checkpoint.
        """
        stale = []
        if self.max_keep_ckpts > 0:
            # save_best re-saves the current step: nothing moves then
            if not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    stale.append(self.keep_ckpt_ids.popleft())
                self.keep_ckpt_ids.append(step)
            # the new checkpoint lists the step it replaces: a run resumed
            # from it deletes that file if this one dies before doing so
            runner.message_hub.update_info('keep_ckpt_ids',
                                           stale + list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self._step_path(step)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if self.max_keep_ckpts > 0:
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        if not is_main_process():
            return
        self._write_last_checkpoint(runner, self.last_ckpt)
        self._remove(map(self._step_path, stale))

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """Save the best checkpoint as ``CheckpointHook`` does, deleting the
        previous best only once the new one and the checkpoint that records
        it are written.

        Args:
            runner (Runner): The runner of the training process.
            metrics (dict): Evaluation results of all metrics.
        """
        if not self.save_best:
            return
        previous = self._best_paths()
        # CheckpointHook deletes the best path it holds before writing the
        # new one: hold none while it runs
        self._set_best_paths(dict.fromkeys(previous))
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            current = self._best_paths()
            self._set_best_paths(
                {key: current[key] or previous[key]
                 for key in previous})
        replaced = [
            previous[key] for key in previous
            if previous[key] and current[key]
            and current[key] != previous[key]
        ]
        if is_main_process():
            for path in self._remove(replaced):
                runner.logger.info(
                    f'The previous best checkpoint {path} is removed')

    def _best_paths(self) -> Dict[Optional[str], Optional[str]]:
        """Best checkpoint path per key indicator (``None`` key: single)."""
        if hasattr(self, 'best_ckpt_path_dict'):
            return dict(self.best_ckpt_path_dict)
        return {None: self.best_ckpt_path}

    def _set_best_paths(self, paths: Dict[Optional[str],
                                          Optional[str]]) -> None:
        if hasattr(self, 'best_ckpt_path_dict'):
            self.best_ckpt_path_dict.update(paths)
        else:
            self.best_ckpt_path = paths[None]

    def _step_path(self, step: int) -> str:
        """Path of the regular checkpoint of ``step``."""
        return self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))

    @staticmethod
    def _write_last_checkpoint(runner, path: str) -> None:
        """Point ``work_dir/last_checkpoint`` at ``path``, atomically."""
        atomic_write(
            osp.join(runner.work_dir, 'last_checkpoint'), str(path).encode())

    def _remove(self, paths: Iterable[str]) -> List[str]:
        """Delete checkpoint files (directories for DeepSpeed) if present.

        Returns:
            list[str]: The paths that were deleted.
        """
        removed = []
        for path in paths:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
            else:
                continue
            removed.append(path)
        return removed
