"""Offline training of spiking networks with the learning rules of the seed papers.

- :mod:`.data`, :mod:`.data_nmnist`: labelled recordings binned to ``T`` frames through
  the runtime's windowing and input stage; stratified hold-out; jitter; batches.
- :mod:`.surrogates`: STBP's four approximate spike derivatives, by name.
- :mod:`.rules`: the rule registry (:mod:`.stbp`, :mod:`.tssl`) and what a rule provides.
- :mod:`.network`: the training-time forward of a runtime ``ModelSpec`` over ``T`` frames.
- :mod:`.loop`: seeded training with validation, checkpoints, early stopping.
- :mod:`.export`, :mod:`.evaluate`: the model file with provenance; accuracy through the
  runtime's Engine.

``runtime`` never imports this package; it only reads the model files written here.
"""
