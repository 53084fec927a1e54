"""RNNLIB's data files: classic NetCDF, read and written with ``scipy.io.netcdf_file``.

The format as RNNLIB's manual ("Data File Format") and its reader (NetcdfDataset.hpp) define it.
Sequences are stored one after another along ``numTimesteps``; each has ``numDims`` dimensions.

Dimensions: ``numSeqs``, ``numTimesteps`` (sum over sequences of the product of their dims),
``inputPattSize`` (values per point), optional ``numDims`` (default 1), and for the task's
targets ``numLabels``, ``maxLabelLength``, ``maxTargStringLength``, ``targetPattSize``,
``maxSeqTagLength`` (string lengths include the terminating NUL).

Variables:

=============================================  ===========================================
``float inputs[numTimesteps, inputPattSize]``  input vectors of all sequences
``int seqDims[numSeqs, numDims]``              each sequence's dimensions (e.g. height, width);
                                               1-D files may give ``int seqLengths[numSeqs]``
``char targetStrings[numSeqs, maxTargStringLength]``  transcription / sequence_classification:
                                               label names separated by spaces
``char labels[numLabels, maxLabelLength]``     the label names (class k = output k)
``int targetClasses[numTimesteps]``            classification: one class per point, -1 = none
``float targetPatterns[numTimesteps, targetPattSize]``  regression targets
``char seqTags[numSeqs, maxSeqTagLength]``     optional names of the sequences
=============================================  ===========================================

Point order: RNNLIB lays a sequence out in the *reverse* of its ``seqDims`` order (its buffer
shape is ``flip(seqDims)``, row-major), so for ``seqDims = (height, width)`` the pixels go
column by column — RNNLIB's own image script transposes each image before writing. Here every
sequence comes back as an array of shape ``seqDims + (inputPattSize,)`` (an image as (height,
width, channels)), and :func:`write_rnnlib` applies the same convention, so files written here
read the same in RNNLIB.

A missing file, a file that is not classic NetCDF, a missing variable, or shapes that do not
add up raise :class:`~evorl.errors.ConfigError` with one line naming the file and the problem.

Example:
    >>> data = RnnlibData([np.zeros((5, 2), np.float32)], labels=["a", "b"],
    ...                   target_strings=["a b"])
    >>> write_rnnlib(tmp / "toy.nc", data)                          # doctest: +SKIP
    >>> read_rnnlib(tmp / "toy.nc", task="transcription").label_sequences()  # doctest: +SKIP
    [[0, 1]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import netcdf_file

from evorl.errors import ConfigError

TASKS = ("transcription", "classification", "sequence_classification", "regression")


@dataclass
class RnnlibData:
    """The sequences of one RNNLIB data file.

    Attributes:
        inputs: One float32 array per sequence, shape ``seq_dims + (input_size,)``.
        labels: Label names (``labels``); class k is output k (CTC's blank comes after them).
        target_strings: Per sequence, label names separated by spaces (``targetStrings``).
        target_classes: Per sequence, int array of shape ``seq_dims`` (``targetClasses``).
        target_patterns: Per sequence, ``seq_dims + (target_size,)`` (``targetPatterns``).
        seq_tags: Per sequence, a name (``seqTags``).
    """

    inputs: list[np.ndarray]
    labels: list[str] | None = None
    target_strings: list[str] | None = None
    target_classes: list[np.ndarray] | None = None
    target_patterns: list[np.ndarray] | None = None
    seq_tags: list[str] | None = None

    @property
    def seq_dims(self) -> list[tuple[int, ...]]:
        return [tuple(x.shape[:-1]) for x in self.inputs]

    def label_sequences(self) -> list[list[int]]:
        """``target_strings`` as label indices (transcription targets)."""
        if self.target_strings is None or self.labels is None:
            raise ConfigError("RNNLIB data: transcription needs targetStrings and labels")
        index = {name: k for k, name in enumerate(self.labels)}
        out = []
        for s, text in enumerate(self.target_strings):
            unknown = [w for w in text.split() if w not in index]
            if unknown:
                raise ConfigError(
                    f"RNNLIB data: sequence {s}: label {unknown[0]!r} is not in labels"
                )
            out.append([index[w] for w in text.split()])
        return out


def _fail(path: Path | str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}".replace("\n", " "))


def _strings(var: np.ndarray) -> list[str]:
    rows = np.asarray(var)
    if rows.ndim != 2:
        raise ValueError(f"a string variable must be 2-D, got shape {rows.shape}")
    out = []
    for row in rows:
        raw = b"".join(bytes(c) for c in row.tolist()) if row.dtype.kind == "S" else bytes(row)
        out.append(raw.split(b"\0", 1)[0].decode("utf-8", errors="replace"))
    return out


def _from_rnnlib_order(flat: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
    """Points in RNNLIB's order (reverse of dims, row-major) -> array of shape dims + rest."""
    rest = flat.shape[1:]
    arr = flat.reshape(*dims[::-1], *rest)
    axes = [*range(len(dims) - 1, -1, -1), *range(len(dims), arr.ndim)]
    return np.ascontiguousarray(arr.transpose(axes))


def _to_rnnlib_order(arr: np.ndarray, ndims: int) -> np.ndarray:
    axes = [*range(ndims - 1, -1, -1), *range(ndims, arr.ndim)]
    return arr.transpose(axes).reshape(-1, *arr.shape[ndims:])


def read_rnnlib(path: str | Path, task: str | None = None) -> RnnlibData:
    """Read an RNNLIB NetCDF data file; ``task`` (if given) checks that its targets are there.

    Raises:
        ConfigError: One line: a missing or unreadable file, a missing variable, bad shapes.
    """
    if task is not None and task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    try:
        nc = netcdf_file(path, "r", mmap=False)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except Exception as err:  # scipy raises TypeError/ValueError/OSError for non-NetCDF files
        raise _fail(path, f"not a classic NetCDF file ({err})") from None
    try:
        with nc:
            return _read(nc, path, task)
    except (KeyError, ValueError, TypeError, IndexError) as err:
        raise _fail(path, str(err).strip("'\"")) from None


def _need(nc: netcdf_file, name: str, why: str = "") -> np.ndarray:
    if name not in nc.variables:
        raise KeyError(f"variable {name} missing{why}")
    return nc.variables[name][:].copy()


def _read(nc: netcdf_file, path: Path | str, task: str | None) -> RnnlibData:
    for dim in ("numSeqs", "numTimesteps", "inputPattSize"):
        if dim not in nc.dimensions:
            raise KeyError(f"dimension {dim} missing")
    num_seqs = nc.dimensions["numSeqs"]
    inputs = _need(nc, "inputs").astype(np.float32)
    if inputs.ndim != 2:
        raise ValueError(f"inputs must be [numTimesteps, inputPattSize], got shape {inputs.shape}")
    if "seqDims" in nc.variables:
        dims = _need(nc, "seqDims").astype(np.int64).reshape(num_seqs, -1)
    elif "seqLengths" in nc.variables:
        dims = _need(nc, "seqLengths").astype(np.int64).reshape(num_seqs, 1)
    else:
        raise KeyError("variable seqDims (or seqLengths) missing")
    if dims.shape[0] != num_seqs or (dims < 1).any():
        raise ValueError(f"seqDims must hold {num_seqs} rows of dimensions >= 1")
    sizes = [math.prod(int(d) for d in row) for row in dims]
    if sum(sizes) != inputs.shape[0]:
        raise ValueError(
            f"seqDims add up to {sum(sizes)} points but inputs has {inputs.shape[0]} rows"
        )
    offsets = np.cumsum([0, *sizes])
    shapes = [tuple(int(d) for d in row) for row in dims]

    def split(flat: np.ndarray) -> list[np.ndarray]:
        if flat.shape[0] != inputs.shape[0]:
            raise ValueError(f"a per-point variable has {flat.shape[0]} rows, not numTimesteps")
        return [
            _from_rnnlib_order(flat[offsets[s] : offsets[s + 1]], shapes[s])
            for s in range(num_seqs)
        ]

    data = RnnlibData(inputs=split(inputs))
    if "labels" in nc.variables:
        data.labels = _strings(nc.variables["labels"][:])
    if "targetStrings" in nc.variables:
        data.target_strings = _strings(nc.variables["targetStrings"][:])
        if len(data.target_strings) != num_seqs:
            raise ValueError(f"targetStrings has {len(data.target_strings)} rows, not numSeqs")
    if "targetClasses" in nc.variables:
        data.target_classes = split(_need(nc, "targetClasses").astype(np.int64))
    if "targetPatterns" in nc.variables:
        data.target_patterns = split(_need(nc, "targetPatterns").astype(np.float32))
    if "seqTags" in nc.variables:
        data.seq_tags = _strings(nc.variables["seqTags"][:])
    _check_task(data, task)
    return data


def _check_task(data: RnnlibData, task: str | None) -> None:
    if task in ("transcription", "sequence_classification"):
        _ = data.label_sequences()  # needs labels and targetStrings, all names known
    elif task == "classification":
        if data.target_classes is None or data.labels is None:
            raise KeyError("classification needs targetClasses and labels")
        top = max((int(c.max()) for c in data.target_classes if c.size), default=-1)
        if top >= len(data.labels):
            raise ValueError(f"targetClasses holds class {top} but only {len(data.labels)} labels")
    elif task == "regression" and data.target_patterns is None:
        raise KeyError("regression needs targetPatterns")


def _char_var(nc: netcdf_file, name: str, strings: list[str], dims: tuple[str, str]) -> None:
    encoded = [s.encode("utf-8") for s in strings]
    width = max((len(s) for s in encoded), default=0) + 1  # room for the NUL
    nc.createDimension(dims[1], width)
    arr = np.zeros((len(encoded), width), dtype="S1")
    for i, s in enumerate(encoded):
        arr[i, : len(s)] = np.frombuffer(s, dtype="S1")
    nc.createVariable(name, "c", dims)[:] = arr


def write_rnnlib(path: str | Path, data: RnnlibData) -> Path:
    """Write ``data`` as an RNNLIB NetCDF file (classic format; RNNLIB's point order).

    Writes ``seqDims`` (with a ``numDims`` dimension) and, as RNNLIB's example scripts do,
    ``seqLengths`` (points per sequence) too.
    """
    if not data.inputs:
        raise ConfigError("RNNLIB data: no sequences to write")
    ndims = data.inputs[0].ndim - 1
    if ndims < 1 or any(x.ndim != ndims + 1 for x in data.inputs):
        raise ConfigError("RNNLIB data: every sequence needs the same number of dimensions")
    size = data.inputs[0].shape[-1]
    if any(x.shape[-1] != size for x in data.inputs):
        raise ConfigError("RNNLIB data: every point needs the same inputPattSize")
    path = Path(path)
    flat = np.concatenate([_to_rnnlib_order(x, ndims) for x in data.inputs]).astype(np.float32)
    with netcdf_file(path, "w") as nc:
        nc.createDimension("numSeqs", len(data.inputs))
        nc.createDimension("numTimesteps", flat.shape[0])
        nc.createDimension("inputPattSize", size)
        nc.createDimension("numDims", ndims)
        nc.createVariable("inputs", "f", ("numTimesteps", "inputPattSize"))[:] = flat
        dims = np.array(data.seq_dims, dtype=np.int32)
        nc.createVariable("seqDims", "i", ("numSeqs", "numDims"))[:] = dims
        nc.createVariable("seqLengths", "i", ("numSeqs",))[:] = dims.prod(axis=1)
        if data.labels is not None:
            nc.createDimension("numLabels", len(data.labels))
            _char_var(nc, "labels", data.labels, ("numLabels", "maxLabelLength"))
        if data.target_strings is not None:
            _char_var(nc, "targetStrings", data.target_strings, ("numSeqs", "maxTargStringLength"))
        if data.target_classes is not None:
            classes = np.concatenate([_to_rnnlib_order(c, ndims) for c in data.target_classes])
            nc.createVariable("targetClasses", "i", ("numTimesteps",))[:] = classes
        if data.target_patterns is not None:
            pats = np.concatenate([_to_rnnlib_order(p, ndims) for p in data.target_patterns])
            nc.createDimension("targetPattSize", pats.shape[1])
            var = nc.createVariable("targetPatterns", "f", ("numTimesteps", "targetPattSize"))
            var[:] = pats
        if data.seq_tags is not None:
            _char_var(nc, "seqTags", data.seq_tags, ("numSeqs", "maxSeqTagLength"))
    return path
