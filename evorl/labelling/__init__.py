"""Sequence and image labelling in the manner of RNNLIB (Graves): the numerical core.

* :mod:`~evorl.labelling.ctc` — CTC loss (blank last), best-path and prefix beam search
  decoding, edit distance and label error rate (Graves et al. 2006).
* :mod:`~evorl.labelling.bidirectional` — bidirectional layers over any evorl cell, stacked,
  for padded variable-length batches (:class:`SequenceNet`; BLSTM with peepholes by default).
* :mod:`~evorl.labelling.mdlstm` — 2-D LSTM scanning from four corners, input and hidden
  blocks, hierarchical subsampling (:class:`HierarchicalMDLSTM`; Graves et al. 2007, 2009).
* :mod:`~evorl.labelling.weight_noise` — adaptive weight noise / MDL (Graves 2011).
* :mod:`~evorl.labelling.optim` — RNNLIB's steepest descent and RPROP, early stopping.
* :mod:`~evorl.labelling.netcdf` — RNNLIB's NetCDF data files, read and written.
* :mod:`~evorl.labelling.data` — JapaneseVowels, MNIST digits, digit-string lines.

RNNLIB option names and their counterparts here:

====================  ==========================================================
``hiddenType lstm``   ``ControllerConfig(kind="lstm", peepholes=True)`` sub-cells
``hiddenSize``        ``SequenceNet(layers=...)`` / ``HierarchicalMDLSTM(hidden_sizes=...)``
``inputBlock``        ``HierarchicalMDLSTM(input_block=(rows, cols))``
``hiddenBlock``       ``HierarchicalMDLSTM(hidden_blocks=...)``
``subsampleSize``     ``HierarchicalMDLSTM(subsample_sizes=...)``
``task``              transcription: :func:`ctc_loss`; sequence_classification:
                      ``SequenceNet(collapse="sum")`` + cross-entropy
``optimiser``         :func:`make_optimiser` ("steepest", "rprop")
``learnRate``         ``learn_rate`` (1e-4)
``momentum``          ``momentum`` (0.9)
``maxTestsNoBest``    :class:`EarlyStopping` (20)
``mdl``               wrap the net in :class:`AdaptiveWeightNoise`
``mdlWeight``         ``mdl_weight`` (1)
``mdlInitStdDev``     ``init_std`` (0.075)
``mdlSamples``        ``samples`` (1)
``mdlSymmetricSampling``  ``symmetric`` (False)
``trainFile`` ...     :func:`read_rnnlib`
====================  ==========================================================
"""

from evorl.labelling.bidirectional import (
    BidirectionalLayer,
    SequenceNet,
    reverse_padded,
    sequence_mask,
)
from evorl.labelling.ctc import (
    best_path_decode,
    collapse,
    ctc_loss,
    edit_distance,
    label_error_rate,
    prefix_beam_search,
    sequence_error_rate,
)
from evorl.labelling.mdlstm import DIRECTIONS, HierarchicalMDLSTM, MDLSTMLayer, to_blocks
from evorl.labelling.netcdf import RnnlibData, read_rnnlib, write_rnnlib
from evorl.labelling.optim import EarlyStopping, RnnlibRprop, make_optimiser
from evorl.labelling.weight_noise import AdaptiveWeightNoise

__all__ = [
    "DIRECTIONS",
    "AdaptiveWeightNoise",
    "BidirectionalLayer",
    "EarlyStopping",
    "HierarchicalMDLSTM",
    "MDLSTMLayer",
    "RnnlibData",
    "RnnlibRprop",
    "SequenceNet",
    "best_path_decode",
    "collapse",
    "ctc_loss",
    "edit_distance",
    "label_error_rate",
    "make_optimiser",
    "prefix_beam_search",
    "read_rnnlib",
    "reverse_padded",
    "sequence_error_rate",
    "sequence_mask",
    "to_blocks",
    "write_rnnlib",
]
