"""mmdet's ``eval_map`` without its process pool.

``eval_map`` opens ``multiprocessing.Pool(min(nproc, num_images))`` on
every call with more than one image, ``nproc=1`` included: a fork of the
test process (torch, mmdet and all loaded) and ~0.05-0.1 s per call, most
of what a parity test with a few small scenes costs. A thread pool has the
same ``starmap``/``close`` API and runs the same per-image functions in
the same order, so the results are mmdet's own.
"""
from multiprocessing.pool import ThreadPool


def eval_map_in_threads(monkeypatch) -> None:
    """Make mmdet's ``eval_map`` (and ``VOCMetric``, which calls it) use a
    thread pool for the rest of the test.

    Args:
        monkeypatch (pytest.MonkeyPatch): The test's monkeypatch fixture.
    """
    from mmdet.evaluation.functional import mean_ap
    monkeypatch.setattr(mean_ap, 'Pool', ThreadPool)
