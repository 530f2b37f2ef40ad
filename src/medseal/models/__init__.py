"""Models stage: networks and training loops for plain, masked and encrypted images.

Sits after ``privacy`` in the flow: it consumes masked arrays (or, for the
plaintext baseline and the AES control, arrays the data owner prepares) and
produces probabilities for ``evaluate``.

Needs the ``ml`` extra (``pip install 'medseal[ml]'``: torch, scikit-learn,
SciPy); importing the package without it raises
:class:`~medseal._extras.MissingExtraError`, one line naming the extra. The
torch-based names below are imported lazily, on first use, so importing the
package (or its NumPy-only MORE parts) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medseal._extras import Extra, require_extra
from medseal._lazy import lazy_exports

require_extra(Extra.ML)

if TYPE_CHECKING:  # pragma: no cover
    from medseal.models.data import Split, SplitData, aes_control, load_dataset, to_tensor
    from medseal.models.nets.masked_cnn import MaskedCNN
    from medseal.models.nets.resnet import ResNet18
    from medseal.models.train import TrainConfig, TrainResult, fit, predict_proba

_LAZY = {
    "MaskedCNN": "medseal.models.nets.masked_cnn",
    "ResNet18": "medseal.models.nets.resnet",
    "Split": "medseal.models.data",
    "SplitData": "medseal.models.data",
    "aes_control": "medseal.models.data",
    "load_dataset": "medseal.models.data",
    "to_tensor": "medseal.models.data",
    "TrainConfig": "medseal.models.train",
    "TrainResult": "medseal.models.train",
    "fit": "medseal.models.train",
    "predict_proba": "medseal.models.train",
}

__all__ = [
    "MaskedCNN",
    "ResNet18",
    "Split",
    "SplitData",
    "TrainConfig",
    "TrainResult",
    "aes_control",
    "fit",
    "load_dataset",
    "predict_proba",
    "to_tensor",
]


__getattr__ = lazy_exports(__name__, _LAZY)
