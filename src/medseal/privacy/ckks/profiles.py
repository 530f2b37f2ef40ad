"""CKKS parameter profiles with a stated, checked security level.

Every profile is checked against the HomomorphicEncryption.org security
standard (Albrecht et al., "Homomorphic Encryption Security Standard", 2018,
Table 1, uniform ternary secret, classical 128-bit column): for a ring
dimension ``N`` the *total* bit length of the coefficient modulus, special
prime included, must not exceed the table's bound. SEAL applies the same table
(``sec_level_type::tc128``); we check first so that a refused profile gets a
clear error naming the bound, before any key is made.

Rescaling primes equal the scale (``scale_bits``) so that a rescale after a
plaintext multiply returns exactly to the original scale; the first prime is
larger than the scale by the *headroom* that bounds the magnitude of the
decrypted outputs (``|value| < 2 ** (first - scale_bits - 1)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from medseal.privacy.ckks.errors import CKKSProfileError

__all__ = ["HE_STANDARD_128", "PROFILES", "CKKSProfile", "ProfileName", "get_profile"]

HE_STANDARD_128: dict[int, int] = {
    1024: 27,
    2048: 54,
    4096: 109,
    8192: 218,
    16384: 438,
    32768: 881,
}
"""Ring dimension ``N`` -> maximum total modulus bits for 128-bit classical security."""

_MIN_PRIME_BITS = 20
_MAX_PRIME_BITS = 60


@dataclass(frozen=True)
class CKKSProfile:
    """One CKKS parameter set.

    Parameters
    ----------
    name : str
        Short name used on the command line and in serialized headers.
    poly_modulus_degree : int
        Ring dimension ``N``; ``N / 2`` slots per ciphertext.
    coeff_mod_bit_sizes : tuple of int
        Bit sizes of the RNS primes: first (output headroom), rescaling primes,
        last (special prime for key switching).
    scale_bits : int
        ``log2`` of the encoding scale; equals every rescaling prime.
    security_bits : int
        The claimed classical security level; only 128 is supported.

    Raises
    ------
    CKKSProfileError
        When ``N`` is not in the standard table or the total modulus exceeds it.

    Examples
    --------
    >>> p = get_profile("128")
    >>> p.poly_modulus_degree, p.total_bits, p.depth, p.slots
    (8192, 212, 3, 4096)
    >>> CKKSProfile("too-big", 8192, (60, 40, 40, 40, 60), 40)
    Traceback (most recent call last):
    ...
    medseal.privacy.ckks.errors.CKKSProfileError: CKKS profile 'too-big': N=8192 with 240 modulus bits exceeds the 218 bits that give 128-bit security (HomomorphicEncryption.org standard); use fewer or smaller primes or a larger N
    """

    name: str
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int
    security_bits: int = 128

    def __post_init__(self) -> None:
        n = self.poly_modulus_degree
        sizes = tuple(int(b) for b in self.coeff_mod_bit_sizes)
        object.__setattr__(self, "coeff_mod_bit_sizes", sizes)
        if self.security_bits != 128:
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: only 128-bit security is supported, "
                f"got {self.security_bits}"
            )
        if n not in HE_STANDARD_128:
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: ring dimension N={n} is not in the "
                f"HomomorphicEncryption.org table ({', '.join(map(str, HE_STANDARD_128))})"
            )
        if len(sizes) < 3:
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: need at least 3 primes "
                "(first, one rescaling prime, special prime)"
            )
        if any(not _MIN_PRIME_BITS <= b <= _MAX_PRIME_BITS for b in sizes):
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: every prime must have "
                f"{_MIN_PRIME_BITS}..{_MAX_PRIME_BITS} bits, got {list(sizes)}"
            )
        total = sum(sizes)
        bound = HE_STANDARD_128[n]
        if total > bound:
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: N={n} with {total} modulus bits exceeds the "
                f"{bound} bits that give 128-bit security (HomomorphicEncryption.org "
                "standard); use fewer or smaller primes or a larger N"
            )
        if any(b != self.scale_bits for b in sizes[1:-1]):
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: rescaling primes {list(sizes[1:-1])} must all "
                f"equal scale_bits={self.scale_bits}"
            )
        if sizes[0] <= self.scale_bits or sizes[-1] < max(sizes[:-1]):
            raise CKKSProfileError(
                f"CKKS profile {self.name!r}: the first prime must exceed the scale and the "
                "special prime must be at least as large as every other prime"
            )

    @property
    def total_bits(self) -> int:
        """Total coefficient-modulus bits (special prime included)."""
        return sum(self.coeff_mod_bit_sizes)

    @property
    def max_bits(self) -> int:
        """The 128-bit bound of the standard for this ``N``."""
        return HE_STANDARD_128[self.poly_modulus_degree]

    @property
    def depth(self) -> int:
        """Number of rescales (multiplicative levels) a fresh ciphertext allows."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def slots(self) -> int:
        """Values per ciphertext (``N / 2``)."""
        return self.poly_modulus_degree // 2

    @property
    def headroom_bits(self) -> int:
        """``log2`` bound on decrypted magnitudes at the last level (first prime minus scale)."""
        return self.coeff_mod_bit_sizes[0] - self.scale_bits

    def describe(self) -> dict[str, object]:
        """JSON-able summary (what docs and reports print)."""
        return {
            "name": self.name,
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "scale_bits": self.scale_bits,
            "total_bits": self.total_bits,
            "max_bits_128": self.max_bits,
            "security_bits": self.security_bits,
            "depth": self.depth,
            "slots": self.slots,
        }

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> CKKSProfile:
        """Inverse of :meth:`describe` (checked again against the security table).

        Malformed input raises ``KeyError``, ``TypeError`` or ``ValueError`` for the
        reader of the enclosing format to turn into its own error.
        """
        return cls(
            str(d["name"]),
            int(d["poly_modulus_degree"]),
            tuple(int(b) for b in d["coeff_mod_bit_sizes"]),
            int(d["scale_bits"]),
        )


class ProfileName(StrEnum):
    """The named profiles of :data:`PROFILES`, all at 128-bit classical security."""

    P128 = "128"
    """N = 8192, depth 3: one convolution, its square and a dense layer."""
    P128_DEEP = "128-deep"
    """N = 16384, depth 7: deeper networks (a second convolution) at twice the slots."""


PROFILES: dict[str, CKKSProfile] = {
    # Depth 3 (conv, square, dense): the throughput network. 212 <= 218 bits.
    ProfileName.P128: CKKSProfile("128", 8192, (52, 36, 36, 36, 52), 36),
    # Depth 7 for deeper networks at twice the slots. 400 <= 438 bits.
    ProfileName.P128_DEEP: CKKSProfile("128-deep", 16384, (60, 40, 40, 40, 40, 40, 40, 40, 60), 40),
}


def get_profile(profile: ProfileName | str | CKKSProfile) -> CKKSProfile:
    """A named profile (``"128"``, ``"128-deep"``) or the given object, checked."""
    if isinstance(profile, CKKSProfile):
        return profile
    try:
        return PROFILES[str(profile)]
    except KeyError:
        raise CKKSProfileError(
            f"unknown CKKS profile {profile!r} (known: {', '.join(PROFILES)})"
        ) from None
