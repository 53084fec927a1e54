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

from evorl.registry import lazy_attributes

_LAZY = {
    "BidirectionalLayer": "bidirectional",
    "SequenceNet": "bidirectional",
    "reverse_padded": "bidirectional",
    "sequence_mask": "bidirectional",
    "best_path_decode": "ctc",
    "collapse": "ctc",
    "ctc_loss": "ctc",
    "edit_distance": "ctc",
    "label_error_rate": "ctc",
    "prefix_beam_search": "ctc",
    "sequence_error_rate": "ctc",
    "DIRECTIONS": "mdlstm",
    "HierarchicalMDLSTM": "mdlstm",
    "MDLSTMLayer": "mdlstm",
    "to_blocks": "mdlstm",
    "RnnlibData": "netcdf",
    "read_rnnlib": "netcdf",
    "write_rnnlib": "netcdf",
    "EarlyStopping": "optim",
    "RnnlibRprop": "optim",
    "make_optimiser": "optim",
    "AdaptiveWeightNoise": "weight_noise",
    "LabelConfig": "config",
    "resolve_label_config": "config",
    "read_rnnlib_config": "config",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules (torch, scipy) load on first use


__all__ = [
    "DIRECTIONS",
    "AdaptiveWeightNoise",
    "BidirectionalLayer",
    "EarlyStopping",
    "HierarchicalMDLSTM",
    "LabelConfig",
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
    "read_rnnlib_config",
    "resolve_label_config",
    "reverse_padded",
    "sequence_error_rate",
    "sequence_mask",
    "to_blocks",
    "write_rnnlib",
]
