"""Kubernetes quantities: the apiserver's grammar, parsed exactly, rounded up."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from growthrs_core.errors import GrowthrsError, QuantityError
from growthrs_core.quantity import (
    count,
    cpu_millis,
    format_cpu,
    format_memory,
    memory_mib,
    parse_quantity,
    storage_gib,
)

F = Fraction


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # decimal SI suffixes, including n and u that the apiserver accepts
        ("1n", F(1, 10**9)),
        ("1u", F(1, 10**6)),
        ("1m", F(1, 1000)),
        ("1", F(1)),
        ("1k", F(10**3)),
        ("1M", F(10**6)),
        ("1G", F(10**9)),
        ("1T", F(10**12)),
        ("1P", F(10**15)),
        ("1E", F(10**18)),
        # binary SI suffixes
        ("1Ki", F(2**10)),
        ("1Mi", F(2**20)),
        ("1Gi", F(2**30)),
        ("1Ti", F(2**40)),
        ("1Pi", F(2**50)),
        ("1Ei", F(2**60)),
        # decimal exponents
        ("1e3", F(1000)),
        ("1E3", F(1000)),
        ("1e+3", F(1000)),
        ("1E-3", F(1, 1000)),
        ("2.5e2", F(250)),
        ("1e0", F(1)),
        # fractions
        ("0.5", F(1, 2)),
        (".5", F(1, 2)),
        ("1.", F(1)),
        ("1.5Gi", F(3 * 2**29)),
        ("0.1m", F(1, 10000)),
        # signs
        ("+1", F(1)),
        ("-1", F(-1)),
        ("-.5Ki", F(-512)),
        ("+250m", F(1, 4)),
        ("0", F(0)),
        ("-0", F(0)),
    ],
)
def test_parses_every_form_the_apiserver_accepts(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_numbers_as_yaml_gives_them() -> None:
    assert parse_quantity(2) == 2
    assert parse_quantity(0.5) == F(1, 2)
    assert parse_quantity(0.1) == F(1, 10)  # exact, not the float's binary expansion
    assert cpu_millis(2) == 2000
    assert cpu_millis(0.25) == 250


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "1Kb",
        "1KiB",
        "1ki",
        "1K",  # the apiserver has k, not K
        "1e",  # an e without exponent is not a suffix
        "1e1.5",
        "e3",
        ".",
        "1..5",
        "--1",
        "1 Gi",
        "0x10",
        "1,5",
        "1e65",  # exponent out of range
        "Gi",
        "1mi",
    ],
)
def test_malformed_strings_raise_a_typed_error_naming_the_value(bad: str) -> None:
    with pytest.raises(QuantityError) as err:
        parse_quantity(bad)
    assert repr(bad) in str(err.value)
    assert err.value.value == bad
    assert isinstance(err.value, ValueError) and isinstance(err.value, GrowthrsError)


@pytest.mark.parametrize("bad", [None, True, [1], {"cpu": 1}, float("nan"), float("inf")])
def test_non_quantities_raise_a_typed_error(bad: object) -> None:
    with pytest.raises(QuantityError, match="invalid quantity"):
        parse_quantity(bad)


def test_error_propagates_through_the_unit_helpers() -> None:
    for helper in (cpu_millis, memory_mib, storage_gib, count):
        with pytest.raises(QuantityError, match="'12x'"):
            helper("12x")


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("250m", 250),
        ("1", 1000),
        ("1.5", 1500),
        ("0.1m", 1),  # a tenth of a millicore still needs one
        ("1n", 1),
        ("1u", 1),
        ("1001u", 2),
        ("100m", 100),
        ("2e-3", 2),
        ("0", 0),
        ("-250m", -250),
        ("-0.5m", 0),  # ceiling, also below zero
    ],
)
def test_cpu_millis_rounds_up(text: str, millis: int) -> None:
    assert cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("1Gi", 1024),
        ("1G", 954),  # 953.67 MiB rounded up
        ("128Mi", 128),
        ("1", 1),  # one byte still needs a MiB
        ("1Mi", 1),
        ("1049k", 2),
        ("1048576", 1),
        ("1048577", 2),
        ("0.5Gi", 512),
        ("1e9", 954),
        ("0", 0),
    ],
)
def test_memory_mib_rounds_up(text: str, mib: int) -> None:
    assert memory_mib(text) == mib


def test_storage_and_counts_round_up() -> None:
    assert storage_gib("10Gi") == 10
    assert storage_gib("10G") == 10  # 9.31 GiB
    assert storage_gib("1") == 1
    assert count("2") == 2
    assert count("1500m") == 2
    assert count("110") == 110


@pytest.mark.parametrize(
    ("millis", "text"), [(0, "0"), (250, "250m"), (1000, "1"), (1500, "1500m"), (64000, "64")]
)
def test_format_cpu(millis: int, text: str) -> None:
    assert format_cpu(millis) == text


@pytest.mark.parametrize(
    ("mib", "text"), [(0, "0Gi"), (512, "512Mi"), (1024, "1Gi"), (1536, "1536Mi"), (4096, "4Gi")]
)
def test_format_memory(mib: int, text: str) -> None:
    assert format_memory(mib) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_cpu_round_trip(millis: int) -> None:
    assert cpu_millis(format_cpu(millis)) == millis


@given(st.integers(min_value=0, max_value=2**40))
def test_memory_round_trip(mib: int) -> None:
    assert memory_mib(format_memory(mib)) == mib


SUFFIXES = {
    "n": F(1, 10**9),
    "u": F(1, 10**6),
    "m": F(1, 10**3),
    "": F(1),
    "k": F(10**3),
    "M": F(10**6),
    "G": F(10**9),
    "T": F(10**12),
    "P": F(10**15),
    "E": F(10**18),
    "Ki": F(2**10),
    "Mi": F(2**20),
    "Gi": F(2**30),
    "Ti": F(2**40),
    "Pi": F(2**50),
    "Ei": F(2**60),
}


@given(
    sign=st.sampled_from(["", "+", "-"]),
    whole=st.integers(min_value=0, max_value=10**6),
    frac=st.one_of(st.none(), st.text(alphabet="0123456789", max_size=6)),
    suffix=st.one_of(
        st.sampled_from(sorted(SUFFIXES)),
        st.integers(min_value=-20, max_value=20).map(lambda e: f"e{e}"),
    ),
)
def test_round_trip_against_an_independent_reading(
    sign: str, whole: int, frac: str | None, suffix: str
) -> None:
    """Build a random valid quantity and compare with the value it denotes."""
    number = str(whole) if frac is None else f"{whole}.{frac}"
    expected = F(number) if frac != "" else F(whole)
    if suffix.startswith("e"):
        expected *= F(10) ** int(suffix[1:])
    else:
        expected *= SUFFIXES[suffix]
    if sign == "-":
        expected = -expected
    text = f"{sign}{number}{suffix}"
    assert parse_quantity(text) == expected
    # Converting to integer units rounds up, never down.
    millis = cpu_millis(text)
    assert millis >= expected * 1000 > millis - 1
    mib = memory_mib(text)
    assert mib >= expected / 2**20 > mib - 1
