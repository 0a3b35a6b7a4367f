"""Registry.register_as: a public name for what fvcore's register does with `__name__`."""

import pytest

from slowfast_atfr.utils.registry import Registry


def test_register_as_decorates_and_calls():
    registry = Registry("TEST")

    @registry.register_as("decorated")
    class Decorated:
        pass

    def built():
        return 1

    assert registry.register_as("called")(built) is built
    assert registry.get("decorated") is Decorated and registry.get("called") is built
    assert "decorated" in registry and "Decorated" not in registry
    assert sorted(name for name, _ in registry) == ["called", "decorated"]


def test_a_taken_name_raises():
    registry = Registry("TEST")
    registry.register_as("x")(int)
    with pytest.raises(AssertionError, match="'x' was already registered in 'TEST'"):
        registry.register_as("x")(float)
    assert registry.get("x") is int


def test_unknown_names_raise_key_error():
    with pytest.raises(KeyError, match="'missing'"):
        Registry("TEST").get("missing")
