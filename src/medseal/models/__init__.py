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
    from medseal.models.data import (
        Split,
        SplitData,
        aes_control,
        load_dataset,
        load_masked_from_vault,
        split_validation,
        to_tensor,
    )
    from medseal.models.inference import load_model, save_model
    from medseal.models.more_client import MoreClient
    from medseal.models.more_folds import run_fold
    from medseal.models.more_server import decrypt_results, encrypt_bundle, train_bundle
    from medseal.models.more_train import MoreTrainConfig
    from medseal.models.nets.masked_cnn import MaskedCNN
    from medseal.models.nets.resnet import ResNet18
    from medseal.models.sequences import (
        SequenceSet,
        frame,
        load_sequences,
        nih_followup_sequences,
        vault_sequences,
    )
    from medseal.models.train import TrainConfig, TrainResult, fit, predict_proba
    from medseal.models.vault_training import (
        load_masked_training,
        predict_masked,
        train_masked_cnn,
    )

_LAZY = {
    "MaskedCNN": "medseal.models.nets.masked_cnn",
    "ResNet18": "medseal.models.nets.resnet",
    "Split": "medseal.models.data",
    "SplitData": "medseal.models.data",
    "aes_control": "medseal.models.data",
    "load_dataset": "medseal.models.data",
    "load_masked_from_vault": "medseal.models.data",
    "split_validation": "medseal.models.data",
    "to_tensor": "medseal.models.data",
    "TrainConfig": "medseal.models.train",
    "TrainResult": "medseal.models.train",
    "fit": "medseal.models.train",
    "predict_proba": "medseal.models.train",
    "load_model": "medseal.models.inference",
    "save_model": "medseal.models.inference",
    # training and prediction on a vault's masked objects (``medseal train masked-cnn``, ``predict``)
    "load_masked_training": "medseal.models.vault_training",
    "predict_masked": "medseal.models.vault_training",
    "train_masked_cnn": "medseal.models.vault_training",
    # sequences and the MORE server-side fold loop (``medseal more``, ``train conv-bilstm``)
    "SequenceSet": "medseal.models.sequences",
    "frame": "medseal.models.sequences",
    "load_sequences": "medseal.models.sequences",
    "nih_followup_sequences": "medseal.models.sequences",
    "vault_sequences": "medseal.models.sequences",
    "MoreClient": "medseal.models.more_client",
    "MoreTrainConfig": "medseal.models.more_train",
    "run_fold": "medseal.models.more_folds",
    "decrypt_results": "medseal.models.more_server",
    "encrypt_bundle": "medseal.models.more_server",
    "train_bundle": "medseal.models.more_server",
}

__all__ = [
    "MaskedCNN",
    "MoreClient",
    "MoreTrainConfig",
    "ResNet18",
    "SequenceSet",
    "Split",
    "SplitData",
    "TrainConfig",
    "TrainResult",
    "aes_control",
    "decrypt_results",
    "encrypt_bundle",
    "fit",
    "frame",
    "load_dataset",
    "load_masked_from_vault",
    "load_masked_training",
    "load_model",
    "load_sequences",
    "nih_followup_sequences",
    "predict_masked",
    "predict_proba",
    "run_fold",
    "save_model",
    "split_validation",
    "to_tensor",
    "train_bundle",
    "train_masked_cnn",
    "vault_sequences",
]


__getattr__ = lazy_exports(__name__, _LAZY)
