"""Assignment a2: backpropagation through time (solutions/a2_bptt)."""
