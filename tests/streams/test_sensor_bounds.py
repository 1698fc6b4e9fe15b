"""The one-pass sensor bounds check agrees with the numpy mask on any events."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikestream.streams._sensor_bounds import any_out_of_sensor
from spikestream.streams.errors import FormatError
from spikestream.streams.events import EVENT_DTYPE, check_in_sensor, out_of_sensor

COORD = st.integers(-(1 << 15), (1 << 15) - 1)
SENSOR = st.tuples(st.integers(1, 40_000), st.integers(1, 40_000), st.integers(1, 3))


@st.composite
def events(draw) -> np.ndarray:
    n = draw(st.integers(0, 40))
    ev = np.zeros(n, EVENT_DTYPE)
    near = st.integers(-3, 140)  # mostly around a small sensor's edges
    ev["x"] = draw(st.lists(st.one_of(near, COORD), min_size=n, max_size=n))
    ev["y"] = draw(st.lists(st.one_of(near, COORD), min_size=n, max_size=n))
    ev["p"] = draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n))
    return ev


@settings(max_examples=300, deadline=None)
@given(events(), st.one_of(SENSOR, st.just((128, 128, 2))), st.booleans())
def test_agrees_with_the_numpy_mask(ev: np.ndarray, sensor, strided: bool) -> None:
    if strided:
        ev = ev[::2]  # not contiguous: the numpy fallback
    assert any_out_of_sensor(ev, sensor) == bool(out_of_sensor(ev, sensor).any())


@pytest.mark.parametrize(
    ("field", "value", "outside"),
    [("x", 127, False), ("x", 128, True), ("x", -1, True), ("x", -32768, True),
     ("y", 127, False), ("y", 128, True), ("y", -1, True),
     ("p", 1, False), ("p", 2, True), ("p", -1, True)],
)  # fmt: skip
def test_each_edge_of_the_sensor(field: str, value: int, outside: bool) -> None:
    ev = np.zeros(1000, EVENT_DTYPE)
    ev[field][637] = value
    assert any_out_of_sensor(ev, (128, 128, 2)) is outside


def test_a_sensor_wider_than_int16_lets_every_non_negative_x_in() -> None:
    ev = np.zeros(3, EVENT_DTYPE)
    ev["x"] = [0, 32767, 5]
    assert not any_out_of_sensor(ev, (40_000, 10, 2))
    ev["x"][2] = -5
    assert any_out_of_sensor(ev, (40_000, 10, 2))


def test_other_dtypes_fall_back_to_the_mask() -> None:
    wide = np.zeros(4, [("t", "<i8"), ("x", "<i4"), ("y", "<i4"), ("p", "i1")])
    wide["x"][1] = 1 << 20
    assert any_out_of_sensor(wide, (128, 128, 2))
    assert not any_out_of_sensor(np.zeros(0, EVENT_DTYPE), (1, 1, 1))


def test_check_in_sensor_still_names_the_first_event() -> None:
    ev = np.zeros(10, EVENT_DTYPE)
    ev["y"][[4, 8]] = 200
    with pytest.raises(FormatError, match=r"src: event 14 at \(x=0, y=200, p=0\).*2 such"):
        check_in_sensor(ev, (128, 128, 2), "src", offset=10)
    check_in_sensor(ev[:4], (128, 128, 2), "src")
