"""Assignment a3: LSTM and GRU cells, initialization and a trained model (solutions/a3_gated)."""
