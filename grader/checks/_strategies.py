"""Strategies for the grader's drawn cases: the few hypothesis-like combinators the checks need, drawn
from a SHA-256 counter stream, so a seed gives the same values on every machine, Python and library
version, whatever else is imported.

    integers(low, high)          an int in low .. high; an endpoint one time in eight
    floats(low, high)            a float in [low, high]; an endpoint one time in eight
    booleans(), none()           True/False; None
    sampled_from(values)         one of `values`, uniformly
    one_of(a, b, ...)            a value of one of the strategies, picked uniformly
    tuples(a, b, ...)            a tuple of one value per strategy
    lists(elements, lo, hi)      a list of lo .. hi values of `elements`
    composite(function)          `function(draw, *args)` builds a value from other strategies' draws
    strategy.map(f)              f applied to each drawn value

Why not hypothesis itself: its generator mixes numeric literals of every loaded local module into what
it draws and changes between releases, so the same salt would grade different cases after an edit to
the grader, or on another install, and a regrade would not reproduce a score. The endpoints still come
up more often than a uniform draw gives them, because that is where wrong code tends to break.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
U = TypeVar("U")

ENDPOINT_ONE_IN = 8


class Source:
    """A deterministic stream of 64-bit words: SHA-256 of (seed, block counter), 4 words per block."""

    def __init__(self, seed: int | str) -> None:
        self._key = f"diffusion-hw-draw\0{seed}".encode()
        self._counter = 0
        self._words: list[int] = []

    def word(self) -> int:
        if not self._words:
            digest = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._words = [int.from_bytes(digest[i:i + 8], "big") for i in range(0, 32, 8)]
        return self._words.pop(0)

    def below(self, n: int) -> int:
        """An int in 0 .. n-1, uniform (rejection sampling: no modulo bias)."""
        if n <= 0:
            raise ValueError(f"below({n}): n must be positive")
        limit = (2**64 // n) * n
        while (value := self.word()) >= limit:
            pass
        return value % n

    def unit(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.word() >> 11) / 2**53


class SearchStrategy(Generic[T]):
    """Something that draws a value from a Source."""

    def __init__(self, produce: Callable[[Source], T]) -> None:
        self._produce = produce

    def example_from(self, source: Source) -> T:
        return self._produce(source)

    def map(self, function: Callable[[T], U]) -> SearchStrategy[U]:
        return SearchStrategy(lambda source: function(self._produce(source)))


def integers(min_value: int, max_value: int) -> SearchStrategy[int]:
    if min_value > max_value:
        raise ValueError(f"integers({min_value}, {max_value}): min_value is above max_value")

    def produce(source: Source) -> int:
        if source.below(ENDPOINT_ONE_IN) == 0:
            return (min_value, max_value)[source.below(2)]
        return min_value + source.below(max_value - min_value + 1)

    return SearchStrategy(produce)


def floats(min_value: float, max_value: float, allow_subnormal: bool = False) -> SearchStrategy[float]:
    """Finite floats in [min_value, max_value]; `allow_subnormal` is accepted for hypothesis's spelling
    and changes nothing (a draw is subnormal only when an endpoint is)."""
    if not min_value <= max_value:
        raise ValueError(f"floats({min_value}, {max_value}): min_value is above max_value")
    del allow_subnormal

    def produce(source: Source) -> float:
        if source.below(ENDPOINT_ONE_IN) == 0:
            return float((min_value, max_value)[source.below(2)])
        return min(float(max_value), min_value + (max_value - min_value) * source.unit())

    return SearchStrategy(produce)


def booleans() -> SearchStrategy[bool]:
    return SearchStrategy(lambda source: source.below(2) == 1)


def none() -> SearchStrategy[None]:
    return SearchStrategy(lambda source: None)


def sampled_from(values: Sequence[T]) -> SearchStrategy[T]:
    values = list(values)
    if not values:
        raise ValueError("sampled_from([]): there is nothing to sample")
    return SearchStrategy(lambda source: values[source.below(len(values))])


def one_of(*strategies: SearchStrategy[Any]) -> SearchStrategy[Any]:
    if not strategies:
        raise ValueError("one_of(): give at least one strategy")
    return SearchStrategy(lambda source: strategies[source.below(len(strategies))].example_from(source))


def tuples(*strategies: SearchStrategy[Any]) -> SearchStrategy[tuple]:
    return SearchStrategy(lambda source: tuple(strategy.example_from(source) for strategy in strategies))


def lists(elements: SearchStrategy[T], min_size: int = 0, max_size: int = 8) -> SearchStrategy[list[T]]:
    def produce(source: Source) -> list[T]:
        size = min_size + source.below(max_size - min_size + 1)
        return [elements.example_from(source) for _ in range(size)]

    return SearchStrategy(produce)


def composite(function: Callable[..., T]) -> Callable[..., SearchStrategy[T]]:
    """`@composite def f(draw, ...)`: f(...) is a strategy whose values `function` builds with
    `draw(strategy)`."""

    def build(*args: Any, **kwargs: Any) -> SearchStrategy[T]:
        return SearchStrategy(lambda source: function(lambda strategy: strategy.example_from(source), *args, **kwargs))

    build.__name__ = getattr(function, "__name__", "composite")
    build.__doc__ = function.__doc__
    return build
