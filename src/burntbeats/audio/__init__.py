"""Audio I/O for Burnt Beats: probing, streaming decode, reading and writing audio files.

The public names are ``burntbeats.audio.io.__all__``; the modules behind them: ``errors``,
``limits`` (bounds on rate, channels, duration), ``source`` (opening uploads), ``channels``
(downmix), ``io`` (probe and decode) and ``encode`` (writing).
"""

from burntbeats.audio.io import *  # noqa: F403 - the package re-exports io's public names
from burntbeats.audio.io import __all__  # noqa: F401 - the same list is this package's __all__
