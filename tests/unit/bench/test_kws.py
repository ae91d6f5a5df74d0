"""seqrec.bench.kws: the cell comparison times the cell it names."""

import torch

from seqrec.bench.kws import kws_model


def test_kws_cell_comparison_times_the_cell_it_names():
    # kws_ms_per_clip_lstm / _gru compare two different networks, not one twice
    for cell, rnn_type in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        model = kws_model(None, [f"decoder.cell={cell}"])
        assert type(model.network.model.decoder.rnn) is rnn_type
        assert len(model.labels) == 35
