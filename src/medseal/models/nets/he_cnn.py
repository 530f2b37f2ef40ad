"""HE-CNN: a CNN made for CKKS, and its compiler to an encrypted-inference program.

Where it sits: models stage, over ``privacy.ckks``. The network is trained in
plaintext (``medseal.models.train.fit``) and lowered by :func:`compile_he` to
an :class:`~medseal.privacy.ckks.HEProgram` of affine layers and squares; the
program runs on ciphertexts on the compute host.

Architecture (CryptoNets family, sized for the throughput packing)::

    x in [0,1] -> 2x-1 -> conv k x k / stride s (no bias) -> batch norm -> poly
               [-> conv2 -> batch norm -> poly]
               -> avg pool p -> flatten -> [linear -> batch norm -> poly]* -> linear -> logit

``poly`` is a learned quadratic ``a z^2 + b z`` (a fitted low-degree
polynomial activation; ReLU cannot be evaluated on CKKS ciphertexts). Every
segment between activations is affine in eval mode (centring, convolution,
batch norm, pooling, flatten, linear), so the compiler *probes* it with the
unit vectors to get its exact matrix, and folds each activation's linear part
into the neighbouring affine layers (``a z^2 + b z = a (z + b/2a)^2 - b^2/4a``):
under encryption every activation is a bare square, one level each.

Multiplicative depth = number of affine layers + number of activations:
3 for the default (conv, square, dense), which fits the N = 8192 profile
``"128"``; a second convolution or one hidden dense layer makes it 5 (profile
``"128-deep"``).
"""

from __future__ import annotations

import copy
import json
import math
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

from medseal.errors import InputError
from medseal.privacy.ckks import (
    AffineLayer,
    CKKSKey,
    CKKSProfile,
    CKKSServer,
    HEProgram,
    Packing,
    SquareLayer,
    get_profile,
    round_trip,
)

__all__ = [
    "HECNN",
    "EncryptedRun",
    "HEClassifier",
    "HEMode",
    "PolyAct",
    "compile_he",
    "load_he_cnn",
    "save_he_cnn",
]

F64 = NDArray[np.float64]
_MIN_QUADRATIC = 1e-6


class PolyAct(nn.Module):
    """Learned quadratic activation ``a z^2 + b z`` (scalars shared by the layer)."""

    def __init__(self, a: float = 0.1, b: float = 1.0) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(float(a)))
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.a * z * z + self.b * z


class _Centre(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * x - 1.0


class HECNN(nn.Module):
    """Conv + batch norm + quadratic activation + average pooling + dense, for CKKS.

    Parameters
    ----------
    channels : int
        Convolution filters (each costs ``out_h * out_w * kernel**2`` ciphertext
        products per batch).
    kernel, stride : int
        Convolution geometry (no padding).
    pool : int
        Average-pooling window after the first activation (1: none).
    hidden : tuple of int
        Widths of dense layers with their own activation before the output.
    conv2 : (channels, kernel, stride), optional
        A second convolution (no padding, batch norm, its own activation)
        after the first activation; ``pool`` then follows the second.
    image_size : int
        Input side (grey, square).

    Notes
    -----
    Inputs are ``(N, 1, H, W)`` floats in ``[0, 1]``; one logit out.
    """

    def __init__(
        self,
        *,
        channels: int = 6,
        kernel: int = 5,
        stride: int = 2,
        pool: int = 2,
        hidden: tuple[int, ...] | list[int] = (),
        conv2: tuple[int, int, int] | list[int] | None = None,
        image_size: int = 28,
    ) -> None:
        super().__init__()
        if channels < 1 or kernel < 1 or stride < 1 or pool < 1:
            raise InputError("channels, kernel, stride and pool must be >= 1")
        side = (image_size - kernel) // stride + 1
        first_channels = channels
        segs: list[nn.Module] = [
            nn.Sequential(
                _Centre(),
                nn.Conv2d(1, channels, kernel, stride=stride, bias=False),
                nn.BatchNorm2d(channels),
            )
        ]
        if conv2 is not None:
            if len(conv2) != 3 or min(conv2) < 1:
                raise InputError("conv2 is (channels, kernel, stride), each >= 1")
            c2, k2, s2 = (int(v) for v in conv2)
            if side < k2:
                raise InputError(f"conv output side {side} is smaller than conv2's kernel {k2}")
            segs.append(
                nn.Sequential(
                    nn.Conv2d(channels, c2, k2, stride=s2, bias=False), nn.BatchNorm2d(c2)
                )
            )
            side, channels = (side - k2) // s2 + 1, c2
        if side < pool or side % pool:
            raise InputError(f"conv output side {side} must be a positive multiple of pool={pool}")
        self.config: dict[str, Any] = {
            "arch": "he_cnn",
            "channels": first_channels,
            "kernel": kernel,
            "stride": stride,
            "pool": pool,
            "hidden": list(hidden),
            "image_size": image_size,
        }
        if conv2 is not None:
            self.config["conv2"] = [int(v) for v in conv2]
        self.image_size = image_size
        width = channels * (side // pool) ** 2
        head: list[nn.Module] = [nn.AvgPool2d(pool) if pool > 1 else nn.Identity(), nn.Flatten()]
        for h in hidden:
            segs.append(nn.Sequential(*head, nn.Linear(width, h, bias=False), nn.BatchNorm1d(h)))
            head, width = [], h
        segs.append(nn.Sequential(*head, nn.Linear(width, 1)))
        self.segments = nn.ModuleList(segs)
        self.acts = nn.ModuleList([PolyAct() for _ in range(len(segs) - 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, seg in enumerate(self.segments):
            x = seg(x)
            if i < len(self.acts):
                x = self.acts[i](x)
        return x

    @property
    def depth(self) -> int:
        """Multiplicative depth of the compiled program."""
        return len(self.segments) + len(self.acts)


@torch.no_grad()
def _probe(seg: nn.Module, in_shape: tuple[int, ...]) -> tuple[F64, F64]:
    """Exact ``(W, b)`` of an affine module: ``b = f(0)``, ``W[:, i] = f(e_i) - f(0)``."""
    n = math.prod(in_shape)
    basis = torch.cat([torch.zeros(1, n, dtype=torch.float64), torch.eye(n, dtype=torch.float64)])
    out = seg(basis.reshape(n + 1, *in_shape)).reshape(n + 1, -1).numpy()
    bias = out[0]
    return np.ascontiguousarray((out[1:] - bias).T), bias.copy()


def compile_he(
    model: HECNN,
    *,
    profile: str | CKKSProfile = "128",
    calibration: ArrayLike | None = None,
) -> HEProgram:
    """Lower a trained :class:`HECNN` to an :class:`HEProgram` for ``profile``.

    Parameters
    ----------
    model : HECNN
        Trained network (used in eval mode; not modified).
    profile : str or CKKSProfile
        The CKKS profile the program must fit (depth, scale budget).
    calibration : array_like, optional
        ``uint8 (N, H, W)`` or float ``[0, 1]`` images; the largest value after
        each layer on them sets the scale budget that is checked.

    Raises
    ------
    CKKSPlanError
        When the network is deeper than the profile allows or its values
        would overflow the modulus left at some level.
    """
    prof = get_profile(profile)
    net = copy.deepcopy(model).double().eval()
    in_shape: tuple[int, ...] = (1, net.image_size, net.image_size)
    layers: list[AffineLayer | SquareLayer] = []
    carry_scale: float | None = None
    carry_const = 0.0
    last = len(net.segments) - 1
    with torch.no_grad():
        for i, seg in enumerate(net.segments):
            w, b = _probe(seg, in_shape)
            if carry_scale is not None:
                b = b + carry_const * w.sum(axis=1)
                w = carry_scale * w
            if i < last:
                act = net.acts[i]
                assert isinstance(act, PolyAct)
                a, lin = float(act.a), float(act.b)
                if abs(a) < _MIN_QUADRATIC:
                    raise InputError(
                        f"activation {i} is (almost) linear (a={a:.1e}); the compiler needs a "
                        "quadratic term"
                    )
                b = b + lin / (2 * a)
                carry_scale, carry_const = a, -(lin * lin) / (4 * a)
            layers.append(AffineLayer.from_dense(w, b, scale_bits=prof.scale_bits))
            if i < last:
                layers.append(SquareLayer(w.shape[0]))
            out_shape = seg(torch.zeros(1, *in_shape, dtype=torch.float64)).shape[1:]
            in_shape = tuple(int(d) for d in out_shape)
    meta = {"network": dict(model.config), "outputs": "logit of class 1"}
    shape = (net.image_size, net.image_size)
    max_abs = None
    if calibration is not None:
        x = _as_unit_float(calibration)
        max_abs = HEProgram(layers, profile=prof, input_shape=shape).layer_max_abs(x)
    return HEProgram(layers, profile=prof, input_shape=shape, max_abs=max_abs, meta=meta)


def _as_unit_float(x: ArrayLike) -> F64:
    a = np.asarray(x)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return np.asarray(a, dtype=np.float64)


def _sigmoid(z: F64) -> F64:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)


class HEMode(StrEnum):
    """How :class:`HEClassifier` runs (Concrete-ML's three modes)."""

    PLAIN = "plain"
    """The torch network."""
    SIMULATE = "simulate"
    """The compiled polynomial program in float64, on the encoding grid."""
    ENCRYPTED = "encrypted"
    """CKKS end to end: owner encrypts, server evaluates, owner decrypts."""


class EncryptedRun(TypedDict, total=False):
    """Options of an encrypted run (:meth:`HEClassifier.logits`)."""

    key: CKKSKey
    server: CKKSServer
    packing: Packing | str


class HEClassifier:
    """One binary classifier, three ways to run it: ``plain``, ``simulate``, ``encrypted``.

    ``plain`` is the torch network; ``simulate`` runs the compiled polynomial
    program in float64 (weights and inputs rounded to the CKKS encoding grid);
    ``encrypted`` encrypts with ``key``, evaluates on a :class:`CKKSServer`
    built from the *serialized* public context and ciphertexts only, and
    decrypts. Using ``simulate`` or ``encrypted`` before :meth:`compile` is an
    error.
    """

    def __init__(self, net: HECNN, program: HEProgram | None = None) -> None:
        self.net = net.eval()
        self.program = program

    def compile(
        self, *, profile: str | CKKSProfile = "128", calibration: ArrayLike | None = None
    ) -> HEProgram:
        self.program = compile_he(self.net, profile=profile, calibration=calibration)
        return self.program

    def _need_program(self) -> HEProgram:
        if self.program is None:
            raise InputError("compile the model first (HEClassifier.compile)")
        return self.program

    def logits(
        self, x: ArrayLike, *, mode: HEMode | str = HEMode.PLAIN, **options: Unpack[EncryptedRun]
    ) -> F64:
        """Logits of class 1 for ``(N, H, W)`` images (``uint8`` or floats in [0, 1]).

        ``options`` (encrypted mode): ``key``, the data owner's :class:`CKKSKey`;
        ``server``, a :class:`CKKSServer` (default: one built from the key's
        serialized public context); ``packing``, ``"throughput"`` (up to
        ``slots`` images per batch) or ``"single"`` (one image at a time: low
        latency, the server's context needs its Galois keys).
        """
        xf = _as_unit_float(x)
        if xf.ndim != 3:
            raise InputError(f"expected images (N, H, W), got shape {xf.shape}")
        try:
            how = HEMode(mode)
        except ValueError:
            raise InputError(f"unknown mode {mode!r} (plain, simulate, encrypted)") from None
        if how is HEMode.PLAIN:
            with torch.no_grad():
                t = torch.from_numpy(xf.astype(np.float32)).unsqueeze(1)
                return self.net.float()(t).squeeze(1).double().numpy()
        prog = self._need_program()
        if how is HEMode.SIMULATE:
            return prog.simulate(xf)[:, 0]
        key = options.get("key")
        if key is None:
            raise InputError("mode='encrypted' needs the data owner's CKKSKey (key=...)")
        pk = Packing(options.get("packing", Packing.THROUGHPUT))
        srv = options.get("server") or CKKSServer(key.public_context(prog, packing=pk).to_bytes())
        return round_trip(key, srv, prog, xf, packing=pk).logits

    def predict(
        self, x: ArrayLike, *, mode: HEMode | str = HEMode.PLAIN, **options: Unpack[EncryptedRun]
    ) -> F64:
        """Probabilities of class 1 (sigmoid of :meth:`logits`, same arguments)."""
        return _sigmoid(self.logits(x, mode=mode, **options))


def save_he_cnn(net: HECNN, directory: str | os.PathLike[str], info: dict[str, Any]) -> Path:
    """Write ``model.pt`` (weights) and ``model.json`` (architecture + ``info``, no keys or pixels)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "model.pt")
    doc = {"format": "medseal-model", "version": 1, "network": net.config, **info}
    (out / "model.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return out


def load_he_cnn(directory: str | os.PathLike[str]) -> tuple[HECNN, dict[str, Any]]:
    """Rebuild an :class:`HECNN` saved by :func:`save_he_cnn` (eval mode) and its JSON."""
    src = Path(directory)
    try:
        doc = json.loads((src / "model.json").read_text())
        cfg = dict(doc["network"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"no readable HE-CNN at {src}: {type(exc).__name__}") from None
    if cfg.pop("arch", None) != "he_cnn":
        raise InputError(f"{src} does not hold an HE-CNN (arch he_cnn)")
    net = HECNN(**cfg)
    net.load_state_dict(torch.load(src / "model.pt", map_location="cpu", weights_only=True))
    return net.eval(), doc
