"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints, safely.

torch >= 2.6 loads with ``weights_only=True`` by default. A checkpoint that an
mmengine ``Runner`` writes also holds its message hub and numpy data, so
``load_from``, ``--resume`` and mmdet's own ``tools/test.py`` fail with
``UnpicklingError: Weights only load failed``. :func:`allow_mmengine_checkpoints`
registers, under each pickled name such a checkpoint uses, a restricted
stand-in that reads exactly what mmengine writes and refuses the rest. It runs
when this module is imported, which ``import mmext`` (configs trigger it
through ``custom_imports``) does as soon as torch is imported.

What a Runner checkpoint holds besides tensors (``pickletools`` on one written
by ``tools/train.py``; ``torch.serialization.get_unsafe_globals_in_checkpoint``
lists the same six names):

- ``message_hub.log_scalars``: ``HistoryBuffer`` objects, as NEWOBJ + BUILD of
  ``{max_length, _log_history, _count_history, statistics_methods}``; the last
  maps 'min', 'max', 'current', 'mean' to ``getattr(HistoryBuffer, name)``
  (protocol 2 pickles a function with a dotted qualname through
  ``builtins.getattr``);
- float arrays: ``_reconstruct(ndarray, (0,), b'b')`` + BUILD of
  ``(1, shape, dtype, is_fortran, raw bytes)``;
- numpy scalars (``runtime_info['eta']``): ``scalar(dtype, raw bytes)``;
- dtypes: ``dtype('f8', False, True)`` + BUILD of its byte order.

Threat model. The safe unpickler builds objects only from allowed names, but it
calls any allowed callable with any arguments, sets any state on an instance of
an allowed class, and torch's default-allowed
``torch._tensor._rebuild_from_type_v2(func, new_type, args, state)`` calls
*any* object the pickle has built. So every object that loading can produce
must be harmless to call, and every BUILD target must check its state.
Audit, pickled name by pickled name:

- ``builtins.getattr``: the real one reaches ``getattr.__self__`` (the builtins
  module), ``__globals__``, ``__subclasses__()``, hence ``eval`` through the
  gadget above. :func:`checkpoint_getattr` resolves only
  ``HistoryBuffer.{min,max,current,mean}`` and returns a
  :class:`StatisticsMethodRef`: a name, not callable, with no attributes to
  chain. It is enough, because the buffer's state check below only compares it.
- ``mmengine.logging.history_buffer.HistoryBuffer``: upstream ``__setstate__``
  merges the pickled ``statistics_methods`` into the class-wide
  ``_statistics_methods``, so one crafted checkpoint could rebind 'mean' for
  every buffer in the process. :class:`CheckpointHistoryBuffer` checks each
  field (known keys only, numeric 1-d arrays of equal length, an int
  ``max_length``, statistics entries equal to those already registered), then
  becomes a plain ``HistoryBuffer``; being called (REDUCE) is refused.
- ``numpy.ndarray``: the real class, called, builds
  ``np.ndarray((1,), 'O', buffer=b'AAAAAAAA')``, an object array over raw
  bytes, i.e. forged pointers (verified: a segfault on access).
  :class:`CheckpointArray` cannot be called, and its ``__setstate__`` takes
  raw bytes with a numeric dtype only, and only once (a second state frees
  memory that views or ``torch.from_numpy`` tensors of the first still use).
- ``numpy.core.multiarray._reconstruct``: the real one accepts any subtype,
  shape and dtype spec; :func:`checkpoint_reconstruct` only the
  ``(ndarray, (0,), b'b')`` that numpy writes.
- ``numpy.dtype`` and the numeric dtype classes (BUILD targets): a dtype's
  ``__setstate__`` trusts its state; it takes object-typed fields and forged
  flags even on a float64 dtype copy (verified), and raw bytes read through
  such a dtype are forged pointers again. :func:`checkpoint_dtype` builds only
  bool, int, uint, float and complex dtypes, always as a copy (the built-in
  singletons ignore ``__setstate__``, verified). A forged dtype on its own only
  describes memory: every path that turns checkpoint bytes into numpy memory
  (:class:`CheckpointArray`, :func:`checkpoint_scalar`) rebuilds the dtype from
  its type string after checking it. Calling a dtype class returns the
  built-in singleton.
- ``numpy.core.multiarray.scalar``: with an object dtype it returns its
  argument as is; :func:`checkpoint_scalar` takes a numeric dtype and exactly
  ``itemsize`` raw bytes.
- Object, string, structured and datetime dtypes are refused: mmengine
  checkpoints hold none.

Limit: torch keeps one object per pickled name, and which one wins when two
packages register the same name depends on set order (ultralytics registers
its own ``builtins.getattr``, ``numpy.dtype`` and ``scalar`` when it loads a
checkpoint).
"""
import pickle

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

# What numpy 1.x writes; numpy<2 is pinned by setup.py.
_multiarray = np.core.multiarray
NUMERIC_KINDS = 'biufc'  # bool, int, uint, float, complex
STATISTICS = ('min', 'max', 'current', 'mean')
_HISTORY_FIELDS = ('max_length', '_log_history', '_count_history')


def refuse(what: str) -> pickle.UnpicklingError:
    """Return the error for a checkpoint entry the safe loader does not read.

    Args:
        what (str): The entry at fault and why.

    Returns:
        pickle.UnpicklingError: Raise it.
    """
    return pickle.UnpicklingError(
        f'{what}. mmext reads only what an mmengine Runner writes '
        '(see mmext/utils/checkpoint.py); do not load this file unless you '
        'trust it.')


def checked_dtype(dtype, where: str) -> np.dtype:
    """Return a fresh numeric dtype equal to ``dtype``; refuse any other.

    Args:
        dtype: The dtype a checkpoint gives for numpy data.
        where (str): What it describes, for the error.

    Returns:
        np.dtype: Built from the type string, so no forged field or flag of
        ``dtype`` survives.
    """
    if not (isinstance(dtype, np.dtype) and dtype.kind in NUMERIC_KINDS
            and dtype.fields is None and dtype.subdtype is None
            and not dtype.hasobject):
        raise refuse(f'{where}: dtype {dtype!r} is not a plain numeric dtype')
    return np.dtype(dtype.str)


class StatisticsMethodRef:
    """What ``getattr(HistoryBuffer, name)`` in a checkpoint loads as.

    Only a name: :class:`CheckpointHistoryBuffer` compares it and keeps the
    methods registered in this process.

    Args:
        name (str): One of ``STATISTICS``.
    """
    __slots__ = ('name', )

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f'HistoryBuffer.{self.name}'


def checkpoint_getattr(owner, name, *default) -> StatisticsMethodRef:
    """Stand-in for ``builtins.getattr``: HistoryBuffer statistics only.

    Args:
        owner: The object whose attribute the checkpoint asks for.
        name: The attribute name.
        *default: getattr's default; refused.

    Returns:
        StatisticsMethodRef: The statistics method's name.
    """
    if owner is not CheckpointHistoryBuffer or name not in STATISTICS \
            or default:
        raise refuse(f'checkpoint asks for getattr({owner!r}, {name!r}); '
                     'only HistoryBuffer.min/max/current/mean are resolved')
    return StatisticsMethodRef(name)


class CheckpointHistoryBuffer(HistoryBuffer):
    """A ``HistoryBuffer`` being unpickled; a plain one once its state is set.

    Its ``__setstate__`` checks each field, never touches the class-wide
    statistics methods, and switches the instance to ``HistoryBuffer``.
    """

    def __init__(self, *args, **kwargs):
        raise refuse('checkpoint calls HistoryBuffer(...); mmengine writes '
                     'buffers as state only')

    def __setstate__(self, state) -> None:
        if not isinstance(state, dict):
            raise refuse(f'HistoryBuffer state is a {type(state).__name__}, '
                         'not a dict')
        extra = set(state) - {*_HISTORY_FIELDS, 'statistics_methods'}
        missing = set(_HISTORY_FIELDS) - set(state)
        if extra or missing:
            raise refuse(f'HistoryBuffer state has unknown fields '
                         f'{sorted(map(repr, extra))} or lacks '
                         f'{sorted(missing)}')
        if type(state['max_length']) is not int:
            raise refuse('HistoryBuffer field max_length is not an int')
        arrays = {}
        for key in ('_log_history', '_count_history'):
            value = state[key]
            if type(value) is not CheckpointArray or value.ndim != 1:
                raise refuse(f'HistoryBuffer field {key} is not a 1-d numeric '
                             'array')
            arrays[key] = np.array(value)  # a plain ndarray, as upstream
        if len(arrays['_log_history']) != len(arrays['_count_history']):
            raise refuse('HistoryBuffer fields _log_history and '
                         '_count_history differ in length')
        self._set_default_statistics()
        registered = HistoryBuffer._statistics_methods
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict):
            raise refuse('HistoryBuffer field statistics_methods is not a dict')
        for key, method in methods.items():
            same_ref = isinstance(method, StatisticsMethodRef) and \
                method.name == key
            if not same_ref and registered.get(key) is not method:
                raise refuse(f'HistoryBuffer statistics method {key!r} is '
                             f'{method!r}, not the one registered here')
        self.__dict__.update(max_length=state['max_length'], **arrays)
        self.__class__ = HistoryBuffer


class CheckpointArray(np.ndarray):
    """A numpy array read from a checkpoint: numeric, from raw bytes, once.

    Arrays inside a ``HistoryBuffer`` become plain ``np.ndarray`` copies; any
    other one keeps this type and pickles as a plain ``np.ndarray``.
    """

    def __new__(cls, *args, **kwargs):
        raise refuse('checkpoint calls numpy.ndarray(...); numpy writes '
                     'arrays as state only')

    def __setstate__(self, state) -> None:
        # numpy frees the old memory on a second state, while views and
        # tensors (torch.from_numpy) made from the first still point to it.
        if self.__dict__.get('state_set'):
            raise refuse('checkpoint sets the state of a numpy array twice')
        if not (isinstance(state, tuple) and len(state) == 5
                and state[0] == 1 and type(state[4]) is bytes):
            raise refuse('numpy array state is not (1, shape, dtype, '
                         'is_fortran, raw bytes)')
        _, shape, dtype, is_fortran, data = state
        dtype = checked_dtype(dtype, 'numpy array')
        try:  # numpy checks the shape against the byte count
            super().__setstate__((1, shape, dtype, bool(is_fortran), data))
        except (TypeError, ValueError) as err:
            raise refuse(f'numpy array state: {err}') from err
        self.state_set = True

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def checkpoint_reconstruct(subtype, shape, code) -> CheckpointArray:
    """Stand-in for numpy's ``_reconstruct``: the empty array it starts from.

    Args:
        subtype: What ``numpy.ndarray`` loaded as.
        shape: ``(0,)``.
        code: ``b'b'``.

    Returns:
        CheckpointArray: Empty, until its state is set.
    """
    if not (subtype is CheckpointArray and type(shape) is tuple
            and shape == (0, ) and type(code) is bytes and code == b'b'):
        raise refuse(f'checkpoint calls numpy _reconstruct({subtype!r}, '
                     f'{shape!r}, {code!r}); numpy writes (ndarray, (0,), '
                     "b'b')")
    return _multiarray._reconstruct(CheckpointArray, (0, ), b'b')


def checkpoint_dtype(spec, align=False, copy=True) -> np.dtype:
    """Stand-in for ``numpy.dtype``: numeric dtypes only, always a copy.

    Args:
        spec: The dtype's type string, e.g. ``'f8'``.
        align (bool): numpy's ``align``.
        copy (bool): Ignored: a copy always, so that BUILD can never reach the
            built-in singleton.

    Returns:
        np.dtype: A new numeric dtype.
    """
    if type(spec) is not str or type(align) is not bool \
            or type(copy) is not bool:
        raise refuse(f'checkpoint calls numpy.dtype({spec!r}, {align!r}, '
                     f'{copy!r}); numpy writes (str, bool, bool)')
    try:
        dtype = np.dtype(spec, align=align, copy=True)
    except (TypeError, ValueError) as err:
        raise refuse(f'numpy.dtype({spec!r}): {err}') from err
    checked_dtype(dtype, f'numpy.dtype({spec!r})')
    return dtype


def checkpoint_scalar(dtype, data) -> np.generic:
    """Stand-in for numpy's ``scalar``: a numeric scalar from raw bytes.

    Args:
        dtype (np.dtype): Its dtype.
        data (bytes): Exactly ``dtype.itemsize`` bytes.

    Returns:
        np.generic: The scalar.
    """
    dtype = checked_dtype(dtype, 'numpy scalar')
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise refuse(f'numpy scalar of {dtype} needs {dtype.itemsize} raw '
                     'bytes')
    return _multiarray.scalar(dtype, data)


def mmengine_checkpoint_globals() -> list:
    """Return what :func:`allow_mmengine_checkpoints` registers.

    Returns:
        list: ``(stand-in, pickled name)`` pairs and the numeric dtype
        classes, for ``torch.serialization.add_safe_globals``.
    """
    dtype_classes = {
        type(np.dtype(code))
        for code in '?' + np.typecodes['AllInteger'] + np.typecodes['AllFloat']
    }
    return [
        (checkpoint_getattr, 'builtins.getattr'),
        (CheckpointHistoryBuffer,
         'mmengine.logging.history_buffer.HistoryBuffer'),
        (CheckpointArray, 'numpy.ndarray'),
        (checkpoint_reconstruct, 'numpy.core.multiarray._reconstruct'),
        (checkpoint_dtype, 'numpy.dtype'),
        (checkpoint_scalar, 'numpy.core.multiarray.scalar'),
    ] + sorted(dtype_classes, key=lambda cls: cls.__name__)


def allow_mmengine_checkpoints() -> None:
    """Register the restricted stand-ins for the safe ``torch.load``."""
    # Before 2.6 torch.load reads everything by default, and before 2.5
    # add_safe_globals takes no (object, name) pairs.
    if torch.__version__ >= '2.6':
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


# Importing this module is what installs them (see ``mmext/__init__.py``).
allow_mmengine_checkpoints()
