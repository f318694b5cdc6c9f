"""The persona merged into the base model: one GGUF that needs no adapter at run time.

llama.cpp applies a LoRA adapter at run time as two more small matrix products per adapted
weight, on every token of every turn (prefill 419 → 330 tok/s, decode 132 → 101 tok/s on a
2-core CPU). Folding ``W + scale · B A`` into the weights once removes that cost.

How, and why this way:

- Every adapted weight is dequantized (gguf-py), ``scale = alpha / rank`` (llama.cpp's own
  scaling at ``adapter_scale = 1``) times ``B A`` is added, and the sum is quantized again.
  Everything the adapter does not touch is copied byte for byte, metadata included.
- The base's Q4_1 blocks step by (max - min) / 15, several times the adapter's change to a
  weight, so requantizing the sum to Q4_1 keeps a median 13 % of that change (the merged
  weights' move projected on the adapter's, over every tenth adapted weight): the persona
  would be lost. Adapted weights are written as ``Q8_0`` by default, which keeps 100 % of it
  by the same measure; ``F16`` keeps it exactly and runs slower.
- The same inputs give the same bytes on every CPU, so a sha256 pin holds across boxes:
  ``B A`` is summed one rank at a time in float64, elementwise (numpy's BLAS would pick
  kernels, and so summation orders, by CPU), and quantization is elementwise numpy.
- The file records the sha256 of the base and of the adapter it was made from, so a retrained
  adapter is seen to need a new merge without loading anything.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from ceoline.errors import ModelError
from ceoline.locator import sha256_file

KEY_ADAPTER_SHA256 = "ceoline.merged.adapter.sha256"
KEY_BASE_SHA256 = "ceoline.merged.base.sha256"
KEY_SCALE = "ceoline.merged.scale"
KEY_TYPE = "ceoline.merged.type"
MERGED_TYPES = {"Q8_0": gguf.GGMLQuantizationType.Q8_0, "F16": gguf.GGMLQuantizationType.F16}


@dataclass(frozen=True)
class MergeReport:
    path: Path
    sha256: str
    merged: int  # adapted weights folded in
    copied: int  # tensors copied as they were
    scale: float
    weight_type: str
    largest_change: float  # max |scale · B A| over every weight: what the persona moves


@dataclass(frozen=True)
class MergedFrom:
    """What a merged file says it was made from (its ceoline.merged.* keys); None if it is not
    a merged file."""

    base_sha256: str
    adapter_sha256: str
    scale: float
    weight_type: str

    def is_from(self, base_sha256: str, adapter_sha256: str, scale: float, kind: str) -> bool:
        # The scale is stored as float32: 0.7 reads back as 0.69999999.
        return (self.base_sha256, self.adapter_sha256, self.weight_type) == (
            base_sha256,
            adapter_sha256,
            kind,
        ) and abs(self.scale - scale) < 1e-6


def merge_adapter(
    base: Path, adapter: Path, out: Path, scale: float = 1.0, weight_type: str = "Q8_0"
) -> MergeReport:
    """Write ``out``: ``base`` with ``adapter`` folded into its weights at ``scale`` (the
    runtime ``adapter_scale``). Written to a temporary file and renamed: a half-written model
    never replaces a whole one."""
    if weight_type not in MERGED_TYPES:
        raise ModelError(f"merged weight type {weight_type!r}: choose {', '.join(MERGED_TYPES)}")
    base_reader = _reader(base)
    lora_reader = _reader(adapter)
    pairs, alpha = _lora_pairs(lora_reader, adapter)
    base_tensors = {t.name: t for t in base_reader.tensors}
    missing = sorted(set(pairs) - set(base_tensors))
    if missing:
        raise ModelError(
            f"{adapter.name} adapts {missing[0]}, which {base.name} does not have; "
            "merge it with the base it was trained on"
        )
    writer = gguf.GGUFWriter(None, _field_text(base_reader, "general.architecture"))
    _copy_metadata(base_reader, writer)
    writer.add_string(KEY_BASE_SHA256, sha256_file(base))
    writer.add_string(KEY_ADAPTER_SHA256, sha256_file(adapter))
    writer.add_float32(KEY_SCALE, scale)
    writer.add_string(KEY_TYPE, weight_type)
    largest = 0.0
    for tensor in base_reader.tensors:
        if tensor.name not in pairs:
            writer.add_tensor(
                tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type
            )
            continue
        a, b = pairs[tensor.name]
        rank = a.shape[0]
        change = _product(b, a) * (scale * alpha / rank)
        largest = max(largest, float(np.abs(change).max()))
        weights = _dequantized(tensor) + change
        qtype = MERGED_TYPES[weight_type]
        data = gguf.quants.quantize(weights.astype(np.float32), qtype)
        writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=qtype)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        writer.write_header_to_file(path=Path(tmp))
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the model from the service's user
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return MergeReport(
        out,
        sha256_file(out),
        merged=len(pairs),
        copied=len(base_tensors) - len(pairs),
        scale=scale,
        weight_type=weight_type,
        largest_change=largest,
    )


def merged_from(path: Path) -> MergedFrom | None:
    """The base and adapter a merged file was made from, from its header alone."""
    from ceoline.persona.lora_gguf import read_header

    meta, _tensors = read_header(path, "merged model", "rebuild it: make install")
    if KEY_ADAPTER_SHA256 not in meta:
        return None
    return MergedFrom(
        str(meta[KEY_BASE_SHA256]),
        str(meta[KEY_ADAPTER_SHA256]),
        float(meta[KEY_SCALE]),
        str(meta.get(KEY_TYPE, "")),
    )


def _reader(path: Path) -> gguf.GGUFReader:
    try:
        return gguf.GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path} as GGUF ({exc}); check the file") from None


def _field_text(reader: gguf.GGUFReader, key: str) -> str:
    field = reader.get_field(key)
    if field is None:
        raise ModelError(f"{key} is missing from the model; is it a llama.cpp GGUF?")
    return str(field.contents())


def _lora_pairs(
    reader: gguf.GGUFReader, path: Path
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    if reader.get_field("general.type") is None or _field_text(reader, "general.type") != "adapter":
        raise ModelError(f"{path} is not a LoRA adapter GGUF (general.type is not 'adapter')")
    alpha = float(reader.get_field("adapter.lora.alpha").contents())
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        weight, _, half = tensor.name.rpartition(".")
        halves.setdefault(weight, {})[half] = _dequantized(tensor)
    pairs = {}
    for weight, both in halves.items():
        if set(both) != {"lora_a", "lora_b"}:
            raise ModelError(f"{path}: {weight} has {sorted(both)}, not lora_a and lora_b")
        pairs[weight] = (both["lora_a"], both["lora_b"])
    return pairs, alpha


def _dequantized(tensor) -> np.ndarray:
    """The tensor as float64, in numpy's row-major shape (GGML's ne reversed)."""
    values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return np.asarray(values, dtype=np.float64).reshape(tuple(int(n) for n in tensor.shape[::-1]))


def _product(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``b @ a`` summed one rank at a time, so every CPU adds in the same order."""
    total = np.zeros((b.shape[0], a.shape[1]), dtype=np.float64)
    for k in range(a.shape[0]):
        total += np.multiply.outer(b[:, k], a[k, :])
    return total


def _copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    for name, field in reader.fields.items():
        # The writer adds the GGUF.* header fields and the architecture itself.
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), value_type, sub_type=sub_type)
