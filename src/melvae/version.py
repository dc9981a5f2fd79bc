"""The package version: its own module so that checkpoint.py and cli.py need not import the
package root (``melvae.__version__`` re-exports it). Keep in step with pyproject.toml."""

__version__ = "0.1.0"
