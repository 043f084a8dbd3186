"""Kubernetes resource quantities, parsed exactly.

Follows the apiserver's grammar (``k8s.io/apimachinery/pkg/api/resource``):
a signed decimal number followed by a binary suffix (``Ki`` … ``Ei``), a decimal
suffix (``n``, ``u``, ``m``, none, ``k``, ``M`` … ``E``) or a decimal exponent
(``e3``, ``E-2``). Arithmetic is done in :class:`fractions.Fraction`, so no
float rounding creeps in; converting to integer units rounds up, because a
request of ``0.1m`` CPU still needs a millicore.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from growthrs_core.errors import QuantityError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"""^(?P<sign>[+-]?)
        (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
        (?:
            (?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)
          | [eE](?P<exponent>[+-]?[0-9]+)
          | (?P<decimal>[numkMGTPE]?)
        )$""",
    re.VERBOSE,
)
_MiB = 2**20
_GiB = 2**30


def parse_quantity(value: object) -> Fraction:
    """Parse a quantity (string, int or float as YAML may give) into an exact number."""
    if isinstance(value, bool):
        raise QuantityError(value, "a boolean is not a quantity")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(value, "not a finite number")
        return Fraction(str(value))
    if not isinstance(value, str):
        raise QuantityError(value, f"expected a string, got {type(value).__name__}")
    text = value.strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(value)
    number = Fraction(match["number"] if match["number"] != "." else "0")
    if match["binary"]:
        number *= _BINARY[match["binary"]]
    elif match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > 64:
            raise QuantityError(value, "exponent out of range")
        number *= Fraction(10) ** exponent
    else:
        number *= _DECIMAL[match["decimal"] or ""]
    return -number if match["sign"] == "-" else number


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def cpu_millis(value: object) -> int:
    """CPU quantity in millicores, rounded up (``"250m"`` → 250, ``"1.5"`` → 1500)."""
    return _ceil(parse_quantity(value) * 1000)


def memory_mib(value: object) -> int:
    """Memory quantity in MiB, rounded up (``"1Gi"`` → 1024, ``"1G"`` → 954)."""
    return _ceil(parse_quantity(value) / _MiB)


def storage_gib(value: object) -> int:
    """Storage quantity in GiB, rounded up."""
    return _ceil(parse_quantity(value) / _GiB)


def count(value: object) -> int:
    """An integer resource such as ``nvidia.com/gpu`` or ``pods``, rounded up."""
    return _ceil(parse_quantity(value))


def format_cpu(millis: int) -> str:
    """Millicores as the shortest exact Kubernetes quantity (``2000`` → ``"2"``)."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(mib: int) -> str:
    """MiB as the shortest exact Kubernetes quantity (``2048`` → ``"2Gi"``)."""
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"
