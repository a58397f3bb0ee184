"""Data sets for the repeat-factor tests: in-memory category lists and the
tiny VOC data."""
from mmengine.dataset import BaseDataset

THR = 0.5  # the tiny data's classes sit at f(c) 0.2-0.4


class ListDataset(BaseDataset):
    """Minimal data set over an in-memory list of category lists."""

    def __init__(self, cat_lists, **kwargs):
        self._cat_lists = cat_lists
        super().__init__(ann_file='', serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(cats=list(c)) for c in self._cat_lists]

    def get_cat_ids(self, idx):
        return self.get_data_info(idx)['cats']


def voc_cfg(year='2007', type='VOCDataset', **kwargs):
    """Config of the tiny VOC ``year`` trainval split, no pipeline."""
    return dict(
        type=type,
        data_root='data/tiny/VOCdevkit/',
        ann_file=f'VOC{year}/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root=f'VOC{year}/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8, bbox_min_size=8),
        pipeline=[],
        **kwargs)


def voc_kwargs():
    """``voc_cfg()`` as keyword arguments of a data set class."""
    return {k: v for k, v in voc_cfg().items() if k != 'type'}
