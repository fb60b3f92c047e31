"""mydigits: read handwritten digits and numbers from real photos, scans and drawings."""

from mydigits.errors import MydigitsError

__version__ = "0.1.0"

__all__ = ["MydigitsError", "Reader", "__version__"]


def __getattr__(name: str):
    # Reader pulls in torch and OpenCV; import it lazily so `import mydigits` stays cheap.
    if name == "Reader":
        from mydigits.reading import Reader

        return Reader
    raise AttributeError(name)
