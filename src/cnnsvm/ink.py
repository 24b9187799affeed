"""The words for ink polarity, shared by the data loaders, inference, the server and the CLI.

A module without dependencies, so that the command line's parser imports nothing heavy.
"""

#: Ink polarities. ``"light"``: light strokes on a dark background (MNIST,
#: what the models train on); ``"dark"``: dark strokes on a light background
#: (NHCD, a digit drawn black on white paper).
INK_POLARITIES = ("light", "dark")

#: What a user may say of an input's ink: a polarity, or ``"auto"`` to guess it from the pixels.
INK_CHOICES = ("auto", *INK_POLARITIES)
