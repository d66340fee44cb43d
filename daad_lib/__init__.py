"""daad_lib: Divide-and-Assemble anomaly detection (Hou et al., ICCV 2021).

The pieces, in the order the paper introduces them:

* :mod:`daad_lib.memory`   - block-wise memory (Sec. 3.1.2, Eq. 1-2)
* :mod:`daad_lib.networks` - generator with multi-scale memories, DCGAN discriminator
* :mod:`daad_lib.config`   - one config and the presets of Table 3
* :mod:`daad_lib.losses`   - L_rec, L_adv, L_ali (Sec. 3.2)
* :mod:`daad_lib.train`    - the training recipe of Sec. 4.1, checkpoints, resume
* :mod:`daad_lib.scoring`  - R(x), L(x), A(x) (Eq. 7) and anomaly maps
* :mod:`daad_lib.evaluate` - image and pixel AUROC on a test set
* :mod:`daad_lib.data`     - MVTec AD, one-class MNIST / CIFAR-10 / digits, toy stripes
"""
from .config import PRESETS, ModelConfig, make_config
from .memory import BlockMemory
from .models import Detector, build_model

__version__ = "0.1.0"
__all__ = ["BlockMemory", "Detector", "ModelConfig", "PRESETS", "build_model", "make_config"]
