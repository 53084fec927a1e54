"""evorl: recurrent controllers trained by neuroevolution and by gradients."""

__version__ = "0.1.0"
