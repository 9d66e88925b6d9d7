"""Assignment a4: regularizing recurrent networks, and a trained character model (solutions/a4_regularize)."""
