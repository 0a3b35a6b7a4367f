"""fvcore's Registry with a public way to register an object under a name of its choosing."""

from typing import Callable, TypeVar

from fvcore.common.registry import Registry as _FvcoreRegistry

T = TypeVar("T")


class Registry(_FvcoreRegistry):
    """A name -> object registry (fvcore's), plus `register_as` for names that are not the
    object's `__name__` (config values such as "x3d_stem", or a builder function's name)."""

    def register_as(self, name: str) -> Callable[[T], T]:
        """Register an object as `name`: `@REG.register_as("X")` or `REG.register_as("X")(obj)`.

        Raises:
            AssertionError: if `name` is taken (as fvcore's `register` does).
        """

        def register(obj: T) -> T:
            self._do_register(name, obj)
            return obj

        return register
