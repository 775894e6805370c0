"""tracet-gui: a desktop console for radio-telescope operators who chase transients."""

__version__ = "0.1.0"
