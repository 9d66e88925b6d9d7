"""Reference implementations that the hidden tests compare student code with, by topic.

Shapes follow the course notation (intro.md): B batch_size, T seq_len,
I input_size, H hidden_size, O output_size; sequences are batch-first.
The topics' public names are gathered here, so cases read `ref.<name>`.
"""
from .bptt import *  # noqa: F401,F403
from .gated import *  # noqa: F401,F403
from .regularize import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
