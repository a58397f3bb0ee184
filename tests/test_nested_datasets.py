"""The nested-dataset walker and the reader of mmengine's stored data infos,
on real mmengine / mmdet wrappers over the tiny VOC data."""
import numpy as np
import pytest
from mmengine.dataset import ClassBalancedDataset, ConcatDataset, RepeatDataset
from mmengine.registry import DATASETS, DefaultScope

from mmext.datasets.data_infos import (private_layout_supported,
                                       stored_data_infos)
from mmext.datasets.nested import (find_dataset, inner_datasets,
                                   iter_nested_datasets, leaf_datasets,
                                   reindexed_parts)
from mmext.datasets.repeat_factor_dataset import RepeatFactorDataset
from tests.helpers.repeat_factor import THR, voc_cfg


@pytest.fixture
def mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def nested_cfg():
    voc07, voc12 = voc_cfg('2007'), voc_cfg('2012')
    return dict(
        type='mmext.RepeatFactorDataset', oversample_thr=THR,
        dataset=dict(type='ConcatDataset', datasets=[
            dict(type='RepeatDataset', times=2, dataset=voc07), voc12]))


def test_configs_and_built_data_sets_walk_alike(mmdet_scope):
    cfg = nested_cfg()
    built = DATASETS.build(nested_cfg())
    cfg_leaves = list(leaf_datasets(cfg))
    built_leaves = list(leaf_datasets(built))
    assert [c['ann_file'] for c in cfg_leaves] == [
        d.ann_file.split('VOCdevkit/')[-1] for d in built_leaves]
    types = [type(d).__name__ for d in iter_nested_datasets(built)]
    assert types == ['RepeatFactorDataset', 'ConcatDataset', 'RepeatDataset',
                     'VOCDataset', 'VOCDataset']
    assert [c['type'] for c in iter_nested_datasets(cfg)] == [
        'mmext.RepeatFactorDataset', 'ConcatDataset', 'RepeatDataset',
        'VOCDataset', 'VOCDataset']
    assert find_dataset(built, RepeatDataset) is built.dataset.datasets[0]
    assert find_dataset(built.dataset, RepeatFactorDataset) is None
    assert inner_datasets(built_leaves[0]) == []


def test_reindexed_parts_match_the_wrappers_indices(mmdet_scope):
    voc = DATASETS.build(voc_cfg())
    n = len(voc)
    for wrapper in (ConcatDataset([voc, voc]), RepeatDataset(voc, 3),
                    ClassBalancedDataset(voc, THR)):
        parts = reindexed_parts(wrapper)
        # the wrapper's image i is the part's image indices[i], in order
        paths = [inner.get_data_info(int(i))['img_path']
                 for inner, indices in parts for i in indices]
        assert paths == [wrapper.get_data_info(i)['img_path']
                         for i in range(len(wrapper))]
    assert reindexed_parts(voc) is None
    assert len(reindexed_parts(RepeatDataset(voc, 3))[0][1]) == 3 * n


@pytest.mark.parametrize('serialize', [True, False])
def test_stored_infos_equal_the_public_ones(mmdet_scope, serialize):
    voc = DATASETS.build(voc_cfg(serialize_data=serialize))
    private = list(stored_data_infos(voc, use_private=True))
    public = list(stored_data_infos(voc, use_private=False))
    assert list(stored_data_infos(voc)) == private  # this mmengine: private
    assert len(private) == len(voc)
    for idx, (ours, theirs) in enumerate(zip(private, public)):
        assert theirs.pop('sample_idx') == idx
        assert ours == theirs


def test_private_layout_only_on_checked_versions():
    assert private_layout_supported('0.10.7')
    assert not private_layout_supported('0.9.1')
    assert not private_layout_supported('0.11.0')
    assert not private_layout_supported('1.0.0')


def test_other_mmengine_versions_read_through_get_data_info(
        mmdet_scope, monkeypatch):
    voc = DATASETS.build(voc_cfg())
    monkeypatch.setattr('mmext.datasets.data_infos.private_layout_supported',
                        lambda: False)
    infos = list(stored_data_infos(voc))
    assert [info['sample_idx'] for info in infos] == list(range(len(voc)))
    # and the wrapper's numbers do not depend on the path taken
    monkeypatch.undo()
    fast = RepeatFactorDataset(voc_cfg(), oversample_thr=THR)
    monkeypatch.setattr('mmext.datasets.data_infos.private_layout_supported',
                        lambda: False)
    slow = RepeatFactorDataset(voc_cfg(), oversample_thr=THR)
    np.testing.assert_array_equal(fast.slot_to_image, slow.slot_to_image)
