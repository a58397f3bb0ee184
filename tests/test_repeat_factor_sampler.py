"""RepeatFactorSampler: per-epoch draws, one common list on every rank."""
from collections import Counter

import pytest
from mmengine.registry import DATA_SAMPLERS, DATASETS, DefaultScope

from mmext.datasets.samplers import RepeatFactorSampler
from tests.helpers.distributed import run_distributed
from tests.helpers.repeat_factor import THR, voc_cfg


def build_wrapper(rounding='stochastic'):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(
            dict(type='mmext.RepeatFactorDataset', oversample_thr=THR,
                 rounding=rounding, seed=5, dataset=voc_cfg()))


@pytest.fixture(scope='module')
def stochastic():
    return build_wrapper()


def test_built_from_registry(stochastic):
    with DefaultScope.overwrite_default_scope('mmdet'):
        sampler = DATA_SAMPLERS.build(
            dict(type='mmext.RepeatFactorSampler', shuffle=True, seed=0),
            default_args=dict(dataset=stochastic))
    assert isinstance(sampler, RepeatFactorSampler)


def test_epochs_redraw_with_fixed_length(stochastic):
    sampler = RepeatFactorSampler(stochastic, shuffle=True, seed=0)
    assert len(sampler) == stochastic.expected_length()
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler)
        epochs.append(indices)
        drawn = Counter(stochastic.epoch_indices(epoch).tolist())
        # Padding repeats / the cut drops only what the length demands.
        diff = Counter(indices)
        diff.subtract(drawn)
        assert sum(abs(v) for v in diff.values()) == abs(
            len(indices) - sum(drawn.values()))
    assert epochs[0] != epochs[1]
    sampler.set_epoch(1)
    assert list(sampler) == epochs[1]


def test_unshuffled_ceil_visits_every_slot():
    ceil = build_wrapper('ceil')
    sampler = RepeatFactorSampler(ceil, shuffle=False)
    assert list(sampler) == list(range(len(ceil)))


def test_rejects_other_datasets():
    with pytest.raises(TypeError, match='RepeatFactorDataset'):
        RepeatFactorSampler(list(range(4)))


def _rank_epochs(rank, world_size):
    """Runs in each process: the common list and this rank's share."""
    dataset = build_wrapper()
    sampler = RepeatFactorSampler(dataset, shuffle=True)  # seed synced
    out = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        out.append(
            dict(common=dataset.epoch_indices(epoch).tolist(),
                 mine=list(sampler)))
    return out


@pytest.mark.slow
def test_two_processes_partition_one_common_list():
    results = run_distributed(_rank_epochs, 2)
    for epoch in range(2):
        r0, r1 = results[0][epoch], results[1][epoch]
        assert r0['common'] == r1['common']
        assert len(r0['mine']) == len(r1['mine'])
        # Interleave the shares back into the one shuffled epoch list.
        full = [None] * (2 * len(r0['mine']))
        full[0::2], full[1::2] = r0['mine'], r1['mine']
        n = len(r0['common'])
        if len(full) >= n:  # every drawn index once, then round-up padding
            assert Counter(full[:n]) == Counter(r0['common'])
            assert full[n:] == full[:len(full) - n]
        else:  # the epoch drew more than expected: a random cut
            assert not Counter(full) - Counter(r0['common'])
    assert results[0][0]['common'] != results[0][1]['common']
