"""Making it durable: an executable edition of OpenStack's object-storage tutorial."""

__version__ = "0.1.0"
