"""invoice-chaos: chaos testing and load simulation for e-invoicing pipelines."""
__version__ = "0.1.0"
