"""Assignment a1: the vanilla RNN forward pass (solutions/a1_rnn)."""
