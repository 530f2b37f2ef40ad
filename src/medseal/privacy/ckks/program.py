"""The compiled HE program: affine layers and squares, its plan, its exact plaintext simulation.

Where it sits: privacy stage. ``medseal.models.nets.he_cnn`` lowers a trained
network to an :class:`HEProgram` (batch norm, pooling and the polynomial
activations' linear parts folded into the affine layers, so every activation
becomes a bare square); the compute host evaluates it on ciphertexts
(:class:`~medseal.privacy.ckks.server.CKKSServer`); :meth:`HEProgram.simulate`
runs the *same* program in float64 with weights rounded to the CKKS encoding
grid, which is what ``predict(mode="simulate")`` means.

Throughput packing (CryptoNets layout): one ciphertext per input feature, one
slot per image. An affine layer is a sum of plaintext-scalar x ciphertext
products followed by one rescale per output; a square is a ciphertext square
followed by one rescale (relinearised only when another square follows). No
rotations, so no Galois keys.

Single-image packing (low latency, :class:`SinglePacking`): the slots of a
ciphertext hold one image's units. The owner encrypts the first affine layer's
*taps*: ciphertext ``t`` holds, for every unit ``j`` of the first layer, the
input pixel that unit's ``t``-th weight multiplies (im2col for a convolution,
as in TenSEAL's tutorial; the owner only rearranges its own image). The first
layer is then ``sum_t w_t * ct_t`` with plaintext vectors, no rotations; the
square acts on all units at once; the next affine layer is one plaintext
vector product per output followed by ``log2(width)`` rotations that sum the
slots into slot 0; any later layers run as in the throughput layout on slot 0.
Galois keys: only those rotation steps.
"""

from __future__ import annotations

import hashlib
import io
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from medseal.privacy.ckks import _format
from medseal.privacy.ckks.errors import CKKSFormatError, CKKSPlanError
from medseal.privacy.ckks.layers import (
    AffineLayer,
    Layer,
    Packing,
    SinglePacking,
    SquareLayer,
    _quantize,
)
from medseal.privacy.ckks.profiles import CKKSProfile, get_profile

__all__ = ["AffineLayer", "HEProgram", "Layer", "Packing", "SinglePacking", "SquareLayer"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class HEProgram:
    """A sequence of affine and square layers compiled for one CKKS profile.

    Parameters
    ----------
    layers : sequence of AffineLayer | SquareLayer
        Must start and end with an affine layer; sizes must chain.
    profile : str or CKKSProfile
        The profile the weights were rounded for and the plan is checked against.
    input_shape : tuple of int
        Shape of one plaintext input (e.g. ``(28, 28)``); flattened row-major.
    max_abs : sequence of float, optional
        Largest magnitude seen after each layer on calibration data (for the
        scale budget); checked when given.
    meta : dict, optional
        JSON-able description (architecture, what the outputs mean).

    Raises
    ------
    CKKSPlanError
        When the program does not fit the profile (see :meth:`plan`).
    """

    def __init__(
        self,
        layers: list[Layer] | tuple[Layer, ...],
        *,
        profile: str | CKKSProfile,
        input_shape: tuple[int, ...],
        max_abs: list[float] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.profile = get_profile(profile)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.max_abs = None if max_abs is None else [float(v) for v in max_abs]
        self.meta: dict[str, Any] = dict(meta or {})
        self._check_structure()
        self._plan = self._make_plan()
        self._bytes: bytes | None = None
        self._single: SinglePacking | None = None

    # -- structure and plan --------------------------------------------------
    def _check_structure(self) -> None:
        if not self.layers or not isinstance(self.layers[0], AffineLayer):
            raise CKKSPlanError("an HE program starts with an affine layer")
        if not isinstance(self.layers[-1], AffineLayer):
            raise CKKSPlanError("an HE program ends with an affine layer")
        width = math.prod(self.input_shape)
        for i, layer in enumerate(self.layers):
            if isinstance(layer, AffineLayer):
                if layer.n_in != width:
                    raise CKKSPlanError(f"layer {i}: expects {layer.n_in} inputs, gets {width}")
                width = layer.n_out
            else:
                if layer.n != width:
                    raise CKKSPlanError(f"layer {i}: squares {layer.n} units, gets {width}")
        if self.max_abs is not None and len(self.max_abs) != len(self.layers):
            raise CKKSPlanError("max_abs needs one value per layer")

    @property
    def n_inputs(self) -> int:
        return math.prod(self.input_shape)

    @property
    def n_outputs(self) -> int:
        last = self.layers[-1]
        assert isinstance(last, AffineLayer)
        return last.n_out

    @property
    def depth(self) -> int:
        """Rescales needed: one per affine layer and one per square."""
        return len(self.layers)

    def relinearize_after(self) -> list[bool]:
        """For each layer: relinearise its output (only squares followed by another square)."""
        squares = [isinstance(layer, SquareLayer) for layer in self.layers]
        return [sq and any(squares[i + 1 :]) for i, sq in enumerate(squares)]

    @property
    def needs_relin_keys(self) -> bool:
        return any(self.relinearize_after())

    def single_packing(self) -> SinglePacking:
        """The single-image layout of this program; :class:`CKKSPlanError` if it has none.

        Needs ``affine -> square -> affine ...`` with the first layer's units
        fitting the slots of one ciphertext.
        """
        if self._single is None:
            layers = self.layers
            if len(layers) < 3 or not isinstance(layers[1], SquareLayer):
                raise CKKSPlanError(
                    "the single-image packing needs an affine layer, a square and another "
                    "affine layer at the start of the program"
                )
            first = layers[0]
            assert isinstance(first, AffineLayer)
            if first.n_out > self.profile.slots:
                raise CKKSPlanError(
                    f"the first layer's {first.n_out} units exceed the {self.profile.slots} "
                    f"slots of one ciphertext under profile {self.profile.name!r}"
                )
            counts = np.diff(first.indptr)
            n_taps = int(counts.max())
            index = np.full((n_taps, first.n_out), -1, dtype=np.int64)
            weight = np.zeros((n_taps, first.n_out))
            rows = np.repeat(np.arange(first.n_out), counts)
            taps = np.arange(first.indices.size) - np.repeat(first.indptr[:-1], counts)
            index[taps, rows] = first.indices
            weight[taps, rows] = first.data
            steps = tuple(2**i for i in range(max(0, math.ceil(math.log2(first.n_out)))))
            # Taps side by side: 3 blocks fold with 2 rotations; otherwise a power of two
            # folds with log2(blocks) rotations by doubling (no block wraps around).
            blocks = max(1, min(n_taps, self.profile.slots // first.n_out))
            if blocks != 3:
                blocks = 2 ** (blocks.bit_length() - 1)
            self._single = SinglePacking(
                index, weight, first.bias, first.n_out, steps, blocks=blocks
            )
        return self._single

    def relinearize_for(self, packing: Packing | str) -> list[bool]:
        """:meth:`relinearize_after` for ``packing`` (rotations need relinearised squares)."""
        relin = self.relinearize_after()
        if Packing(packing) is Packing.SINGLE:
            relin[1] = True
        return relin

    def _make_plan(self) -> dict[str, Any]:
        p = self.profile
        if self.depth > p.depth:
            raise CKKSPlanError(
                f"program needs multiplicative depth {self.depth} (one per affine layer and per "
                f"square) but profile {p.name!r} allows {p.depth}; use a deeper profile "
                "or a shallower network"
            )
        # Scale budget: at each level, values times the scale must stay below the
        # modulus left at that level. Levels count down from `depth` to 0.
        budget: list[dict[str, Any]] = []
        primes = p.coeff_mod_bit_sizes[:-1]
        for i, layer in enumerate(self.layers):
            level_after = self.depth - i - 1
            modulus_bits = sum(primes[: level_after + 1])
            limit_bits = modulus_bits - p.scale_bits - 1
            row: dict[str, Any] = {
                "layer": i,
                "op": "affine" if isinstance(layer, AffineLayer) else "square",
                "level_after": level_after,
                "value_bits_allowed": limit_bits,
            }
            if self.max_abs is not None:
                need = math.log2(max(self.max_abs[i], 1e-300)) + 1.0  # x2 margin
                row["value_bits_seen"] = round(need, 2)
                if need > limit_bits:
                    raise CKKSPlanError(
                        f"layer {i} ({row['op']}): values up to 2^{need:.1f} (with margin) "
                        f"overflow the 2^{limit_bits} that profile {p.name!r} leaves at that "
                        "level; rescale the network or use a profile with a larger first prime"
                    )
            budget.append(row)
        mults = sum(layer.nnz for layer in self.layers if isinstance(layer, AffineLayer))
        squares = sum(layer.n for layer in self.layers if isinstance(layer, SquareLayer))
        rescales = sum(
            layer.n_out if isinstance(layer, AffineLayer) else layer.n for layer in self.layers
        )
        return {
            "packing": "throughput (one slot per image, one ciphertext per feature)",
            "profile": p.name,
            "depth": self.depth,
            "depth_available": p.depth,
            "scale_bits": p.scale_bits,
            "images_per_batch": p.slots,
            "input_ciphertexts": self.n_inputs,
            "output_ciphertexts": self.n_outputs,
            "plain_mults": mults,
            "squares": squares,
            "relinearizations": sum(
                layer.n
                for layer, r in zip(self.layers, self.relinearize_after(), strict=True)
                if r and isinstance(layer, SquareLayer)
            ),
            "rescales": rescales,
            "rotations": 0,
            "galois_keys": [],
            "relin_keys": self.needs_relin_keys,
            "scale_budget": budget,
        }

    def plan(self, packing: Packing | str = Packing.THROUGHPUT) -> dict[str, Any]:
        """The packing plan, operation counts and the per-level scale budget (JSON-able).

        :class:`CKKSPlanError` when the program has no layout for ``packing``.
        """
        if Packing(packing) is Packing.THROUGHPUT:
            return dict(self._plan)
        single = self.single_packing()
        second = self.layers[2]
        assert isinstance(second, AffineLayer)
        rest = self.layers[3:]
        relin = self.relinearize_for(Packing.SINGLE)
        return {
            **self._plan,
            "packing": "single (one image, its units in the slots; taps packed by the owner)",
            "images_per_batch": 1,
            "input_ciphertexts": single.n_ciphertexts,
            "taps": single.n_taps,
            "taps_per_ciphertext": single.blocks,
            "slots_used": single.width,
            "plain_mults": single.n_ciphertexts
            + second.n_out
            + sum(layer.nnz for layer in rest if isinstance(layer, AffineLayer)),
            "squares": 1 + sum(layer.n for layer in rest if isinstance(layer, SquareLayer)),
            "relinearizations": 1
            + sum(
                layer.n
                for layer, r in zip(rest, relin[3:], strict=True)
                if r and isinstance(layer, SquareLayer)
            ),
            "rescales": 2
            + second.n_out
            + sum(layer.n_out if isinstance(layer, AffineLayer) else layer.n for layer in rest),
            "rotations": len(single.fold_steps) + second.n_out * len(single.steps),
            "galois_keys": list(single.galois_steps),
            "relin_keys": True,
        }

    # -- plaintext evaluation ------------------------------------------------
    def simulate(self, x: ArrayLike) -> F64:
        """Run the exact polynomial program in float64 on ``(B, *input_shape)`` inputs.

        Inputs are rounded to the encoding grid like the encrypted path; weights
        already are. Returns ``(B, n_outputs)``.
        """
        a = np.asarray(x, dtype=np.float64)
        if a.shape[1:] != self.input_shape and a.shape[1:] != (self.n_inputs,):
            raise CKKSPlanError(
                f"inputs of shape {a.shape[1:]} do not match the program's {self.input_shape}"
            )
        h = _quantize(a.reshape(a.shape[0], -1), self.profile.scale_bits)
        for layer in self.layers:
            h = layer.apply(h)
        return h

    def layer_max_abs(self, x: ArrayLike) -> list[float]:
        """Largest magnitude after each layer on ``x`` (for the scale budget)."""
        h = np.asarray(x, dtype=np.float64).reshape(np.shape(x)[0], -1)
        out = []
        for layer in self.layers:
            h = layer.apply(h)
            out.append(float(np.max(np.abs(h))) if h.size else 0.0)
        return out

    # -- identity and serialization -------------------------------------------
    def to_bytes(self) -> bytes:
        """Versioned bytes (JSON header + ``.npz`` of the layers); no key material."""
        if self._bytes is None:
            arrays: dict[str, np.ndarray] = {}
            kinds = []
            for i, layer in enumerate(self.layers):
                if isinstance(layer, AffineLayer):
                    kinds.append(["affine", layer.n_in, layer.n_out])
                    arrays[f"{i}_indptr"] = layer.indptr
                    arrays[f"{i}_indices"] = layer.indices
                    arrays[f"{i}_data"] = layer.data
                    arrays[f"{i}_bias"] = layer.bias
                else:
                    kinds.append(["square", layer.n])
            buf = io.BytesIO()
            np.savez(buf, **arrays)  # type: ignore[arg-type]
            header = {
                "layers": kinds,
                "profile": self.profile.describe(),
                "input_shape": list(self.input_shape),
                "max_abs": self.max_abs,
                "meta": self.meta,
            }
            self._bytes = _format.pack(_format.KIND_PROGRAM, header, buf.getvalue())
        return self._bytes

    @property
    def program_id(self) -> str:
        """SHA-256 of :meth:`to_bytes` (first 32 hex digits): names this exact model."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:32]

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> HEProgram:
        """Inverse of :meth:`to_bytes`; :class:`CKKSFormatError` on bad bytes."""
        header, payload = _format.unpack(blob, _format.KIND_PROGRAM)
        try:
            profile = CKKSProfile.from_description(header["profile"])
            with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            layers: list[Layer] = []
            for i, kind in enumerate(header["layers"]):
                if kind[0] == "affine":
                    layers.append(
                        AffineLayer(
                            n_in=int(kind[1]),
                            n_out=int(kind[2]),
                            indptr=arrays[f"{i}_indptr"].astype(np.int64),
                            indices=arrays[f"{i}_indices"].astype(np.int64),
                            data=arrays[f"{i}_data"].astype(np.float64),
                            bias=arrays[f"{i}_bias"].astype(np.float64),
                        )
                    )
                elif kind[0] == "square":
                    layers.append(SquareLayer(int(kind[1])))
                else:
                    raise CKKSFormatError(f"compiled program: unknown layer kind {kind[0]!r}")
            prog = cls(
                layers,
                profile=profile,
                input_shape=tuple(header["input_shape"]),
                max_abs=header.get("max_abs"),
                meta=header.get("meta") or {},
            )
        except CKKSFormatError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, OSError) as exc:
            raise CKKSFormatError(f"compiled program is malformed ({type(exc).__name__})") from exc
        for layer in prog.layers:
            if isinstance(layer, AffineLayer) and not (
                layer.indptr.shape == (layer.n_out + 1,)
                and layer.indptr[-1] == layer.indices.size == layer.data.size
                and layer.bias.shape == (layer.n_out,)
                and (
                    layer.indices.size == 0
                    or 0 <= layer.indices.min() <= layer.indices.max() < layer.n_in
                )
            ):
                raise CKKSFormatError("compiled program has inconsistent affine arrays")
        prog._bytes = bytes(blob)
        return prog

    def __repr__(self) -> str:
        ops = "-".join("A" if isinstance(x, AffineLayer) else "S" for x in self.layers)
        return f"HEProgram({ops}, inputs={self.n_inputs}, profile={self.profile.name!r})"
