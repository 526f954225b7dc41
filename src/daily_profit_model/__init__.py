"""daily-profit-model"""

__version__ = "0.1"
