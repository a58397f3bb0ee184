"""Tell metrics where the runner's work dir is, before they evaluate."""
from mmengine.hooks import Hook

from mmext.registry import HOOKS


@HOOKS.register_module()
class MetricWorkDirHook(Hook):
    """Set ``work_dir`` on every metric of the validation and test
    evaluators that has that attribute, before validation and testing.

    Metrics that write files (``DetectionAP``'s ``curve_dir``) resolve a
    relative output folder against it, so their files land next to the
    run's logs and checkpoints instead of in the current directory.

    Example:
        >>> custom_hooks = [dict(type='mmext.MetricWorkDirHook')]
    """
    priority = 'VERY_HIGH'

    def before_val(self, runner) -> None:
        """Point the validation metrics at ``runner.work_dir``."""
        self._set(runner.val_loop.evaluator, runner.work_dir)

    def before_test(self, runner) -> None:
        """Point the test metrics at ``runner.work_dir``."""
        self._set(runner.test_loop.evaluator, runner.work_dir)

    @staticmethod
    def _set(evaluator, work_dir: str) -> None:
        for metric in evaluator.metrics:
            if hasattr(metric, 'work_dir'):
                metric.work_dir = work_dir
