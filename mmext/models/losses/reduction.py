"""The reductions the mmext losses accept (mmdet's ``weight_reduce_loss``
does the reducing)."""

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> None:
    """Raise a ``ValueError`` naming the choices for an unknown reduction.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got '
                         f'{reduction!r}')
