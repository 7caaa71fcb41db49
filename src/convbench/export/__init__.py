"""Export trained Keras models to TFLite/LiteRT and ONNX, each file with its card and a parity check against Keras."""

# The early-exit exporter registers itself with the exporter (export.exporter.register_card_exporter).
from convbench.export import early_exit  # noqa: F401
from convbench.export.exporter import ExportNote, ExportResult, export
from convbench.export.modes import QuantizeMode, resolve_quantize
from convbench.export.parity import (
    FP32_TOLERANCE,
    PREDICT_CHUNK,
    REFERENCE_RUNTIME,
    RUNTIME_TOLERANCE,
    Parity,
    RuntimeDeviation,
    check_float32,
    measure_parity,
    runtime_deviation,
)
from convbench.export.samples import Images, calibration_images, parity_images
from convbench.export.tflite import check_ops, convert_tflite, tflite_ops

__all__ = ["FP32_TOLERANCE", "PREDICT_CHUNK", "REFERENCE_RUNTIME", "RUNTIME_TOLERANCE", "ExportNote", "ExportResult",
           "Images", "Parity", "QuantizeMode", "RuntimeDeviation", "calibration_images", "check_float32", "check_ops",
           "convert_tflite", "export", "measure_parity", "parity_images", "resolve_quantize", "runtime_deviation",
           "tflite_ops"]
