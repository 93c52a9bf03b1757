"""The tricklab command line (``tricklab = tricklab.cli.main:main``)."""
