from tricklab.catalog.tricks import TRICKS
from tricklab_worker.tricks import TRICK_REGISTRY


def test_registry_keys_equal_the_catalog() -> None:
    assert list(TRICK_REGISTRY) == list(TRICKS)


def test_each_implementation_carries_its_catalog_name() -> None:
    assert all(cls.name == name for name, cls in TRICK_REGISTRY.items())
