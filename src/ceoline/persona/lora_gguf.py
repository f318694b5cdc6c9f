"""Write a peft LoRA as a llama.cpp LoRA adapter GGUF, read one back, and check it fits a base.

The rules follow llama.cpp itself (ggml-org/llama.cpp):

- ``convert_lora_to_gguf.py``: metadata ``general.type = "adapter"``, ``adapter.type = "lora"``,
  ``adapter.lora.alpha`` (f32) and ``general.architecture`` of the base; each adapted weight
  ``W`` becomes ``<gguf name of W>.lora_a`` with peft's ``lora_A`` as is, shape (r, n_in), and
  ``.lora_b`` with ``lora_B``, shape (n_out, r). Tensors that are not lora_A/lora_B are refused,
  and ``lm_head`` is refused when the base ties it to the embeddings (no ``output.weight``).
- ``convert_hf_to_gguf.py``, ``LlamaModel.modify_tensors``: q_proj rows are permuted with
  ``permute(w, n_head, n_head)`` and k_proj rows with ``permute(w, n_head, n_head_kv)``
  (reshape (heads, 2, head_dim/2, n_in), swap axes 1 and 2). ``LoraTorchTensor.permute``
  applies a row permutation to ``B`` only (``A`` keeps its layout, since ``(P B) A = P (B A)``),
  so here only lora_B of q/k is permuted.
- transformers ``modeling_gguf_pytorch_utils.LlamaTensorProcessor._reverse_permute_weights``
  undoes exactly that permutation when it dequantizes a llama GGUF, so a LoRA trained on
  ``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)`` is in HF row order and needs the
  forward permutation to match the GGUF tensors.
- ``src/llama-adapter.cpp``: the loader requires ``general.type == "adapter"``, the same
  architecture as the model, ``adapter.type == "lora"``, every tensor name ending in
  ``.lora_a``/``.lora_b`` (``*_norm.weight`` skipped), both halves present, the base tensor to
  exist, and in GGML order (ne) ``model.ne[0] == a.ne[0]``, ``model.ne[1] == b.ne[1]``,
  ``a.ne[1] == b.ne[0]`` (``token_embd`` is flipped). ``llama-graph.cpp`` scales by
  ``user_scale * alpha / rank`` (rank = ``b.ne[0]``), peft's ``lora_alpha / r``; alpha 0 means
  no scaling, so alpha must be positive (and an rsLoRA needs ``alpha * sqrt(r)`` passed in).

Our own keys live under ``ceoline.``: ``ceoline.base.sha256`` and ``ceoline.base.name`` (the base
file name), plus whatever the trainer passes in ``extra``. :func:`check_adapter_fits` reads only
GGUF headers (no llama.cpp load) and must run before llama.cpp sees the adapter: llama-cpp-python
0.3.36 does not raise when llama.cpp rejects an adapter's shapes, and the next eval segfaults.
Headers are read by a small scanner (gguf-py's constants) rather than ``gguf.GGUFReader``, which
takes ~2 s on this 98 MB base because it builds numpy views of all 49k vocabulary strings; the
scanner takes ~25 ms and the tests check it against GGUFReader.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gguf
import numpy as np

from ceoline.errors import ModelError
from ceoline.locator import sha256_file

if TYPE_CHECKING:
    import torch

KEY_BASE_SHA256 = "ceoline.base.sha256"
KEY_BASE_NAME = "ceoline.base.name"
PREFIX = "ceoline."
RETRAIN_HINT = 'retrain with `ceoline persona train` or set [models] adapter = ""'

Scalar = str | int | float

# Architectures whose q/k rows llama.cpp's converter permutes (LlamaModel) and transformers'
# GGUF loader un-permutes (LlamaTensorProcessor). Others are refused until verified the same way.
_PERMUTED_QK = {"llama"}
_PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<half>[AB])\.weight$")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    architecture: str
    alpha: float
    rank: int
    base_sha256: str
    base_name: str
    tensors: dict[str, tuple[int, ...]]  # GGUF name -> shape in GGML order (ne), as llama.cpp


@dataclass(frozen=True)
class AdapterInfo:
    path: Path
    architecture: str
    alpha: float
    base_sha256: str | None
    base_name: str | None
    tensors: dict[str, tuple[int, ...]]  # GGUF name -> shape in GGML order (ne)
    metadata: dict[str, Scalar] = field(default_factory=dict)  # every ceoline.* key

    @property
    def rank(self) -> int:
        ranks = {shape[1] for name, shape in self.tensors.items() if name.endswith(".lora_a")}
        return ranks.pop() if len(ranks) == 1 else 0


@dataclass(frozen=True)
class _Base:
    architecture: str
    n_head: int
    n_head_kv: int
    n_layer: int
    tensors: dict[str, tuple[int, ...]]


def _short(digest: str | None) -> str:
    return (digest or "none")[:12]


# struct formats of GGUF scalar types (gguf-py's GGUFValueType; little-endian files only).
_SCALAR_FORMATS = {
    gguf.GGUFValueType.UINT8: "B",
    gguf.GGUFValueType.INT8: "b",
    gguf.GGUFValueType.UINT16: "H",
    gguf.GGUFValueType.INT16: "h",
    gguf.GGUFValueType.UINT32: "I",
    gguf.GGUFValueType.INT32: "i",
    gguf.GGUFValueType.FLOAT32: "f",
    gguf.GGUFValueType.BOOL: "?",
    gguf.GGUFValueType.UINT64: "Q",
    gguf.GGUFValueType.INT64: "q",
    gguf.GGUFValueType.FLOAT64: "d",
}


def _scan_header(buf: mmap.mmap) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """Scalar/string metadata and tensor shapes (GGML order) from a GGUF header.

    GGUFReader builds numpy views for every element of every array, which for a model's
    49k-token vocabulary takes seconds; this walks the same layout (GGUF v2/v3) and skips arrays.
    """
    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        value = struct.unpack_from("<" + fmt, buf, pos)[0]
        pos += struct.calcsize("<" + fmt)
        return value

    def text() -> str:
        nonlocal pos
        size = take("Q")
        pos += size
        return bytes(buf[pos - size : pos]).decode("utf-8")

    if take("I") != gguf.GGUF_MAGIC or take("I") not in (2, 3):
        raise ValueError("not a little-endian GGUF v2/v3 file")
    n_tensors, n_kv = take("Q"), take("Q")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key, vtype = text(), gguf.GGUFValueType(take("I"))
        if vtype == gguf.GGUFValueType.STRING:
            meta[key] = text()
        elif vtype == gguf.GGUFValueType.ARRAY:
            itype, count = gguf.GGUFValueType(take("I")), take("Q")
            if itype == gguf.GGUFValueType.STRING:
                for _ in range(count):
                    size = take("Q")  # not `pos += take(...)`: take() moves pos first
                    pos += size
            else:
                pos += count * struct.calcsize(_SCALAR_FORMATS[itype])
        else:
            meta[key] = take(_SCALAR_FORMATS[vtype])
    tensors: dict[str, tuple[int, ...]] = {}
    for _ in range(n_tensors):
        name = text()
        tensors[name] = tuple(take("Q") for _ in range(take("I")))
        pos += 4 + 8  # ggml type, data offset
    if pos > len(buf):
        raise ValueError("header runs past the end of the file")
    return meta, tensors


def read_header(
    path: Path, what: str, fix: str
) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    try:
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(f"{what} {path} is not a GGUF file; {fix}")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _scan_header(buf)
    except OSError as exc:
        raise ModelError(f"{what} {path} cannot be read ({exc.strerror}); {fix}") from None
    except (ValueError, KeyError, struct.error, UnicodeDecodeError) as exc:
        raise ModelError(f"{what} {path} is a corrupt GGUF file ({exc}); {fix}") from None


def _read_base(path: Path) -> _Base:
    fix = "point it at the llama.cpp GGUF model the adapter is for"
    meta, tensors = read_header(path, "base model", fix)
    arch = meta.get(gguf.Keys.General.ARCHITECTURE)
    if not isinstance(arch, str):
        raise ModelError(f"base model {path} has no general.architecture; {fix}")
    n_head = int(meta.get(gguf.Keys.Attention.HEAD_COUNT.format(arch=arch), 0))
    n_head_kv = int(meta.get(gguf.Keys.Attention.HEAD_COUNT_KV.format(arch=arch), n_head))
    n_layer = int(meta.get(gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch), 0))
    return _Base(arch, n_head, n_head_kv, n_layer, tensors)


def _permute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """``LlamaModel.permute`` applied to the rows of lora_B (HF rotary order -> GGUF order)."""
    rows = b.shape[0]
    return b.reshape(n_head, 2, rows // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def _shape_problem(
    name: str, model: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]
) -> str | None:
    """llama.cpp's shape rule (llama-adapter.cpp) on GGML-order shapes; None when it fits."""
    if len(model) != 2 or len(a) != 2 or len(b) != 2:
        return f"tensor {name} is not a matrix (base {model}, lora_a {a}, lora_b {b})"
    if name.endswith("token_embd.weight"):
        fits = model[0] == b[1] and model[1] == a[1]
    else:
        fits = model[0] == a[0] and model[1] == b[1]
    if not fits:
        return f"tensor {name} has shape {model} in the base but lora_a {a}, lora_b {b}"
    if not name.endswith("token_embd.weight") and a[1] != b[0]:
        return f"tensor {name}: lora_a rank {a[1]} differs from lora_b rank {b[0]}"
    return None


def _pairs(
    lora: Mapping[str, torch.Tensor], base: _Base
) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Group the peft state dict into {gguf name: (A, B, hf module)}; refuse what cannot map."""
    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == base.architecture)
    tmap = gguf.get_tensor_name_map(arch, base.n_layer)
    halves: dict[str, dict[str, np.ndarray]] = {}
    modules: dict[str, str] = {}
    for key, tensor in lora.items():
        m = _PEFT_KEY.match(key)
        if m is None:
            raise ModelError(
                f"LoRA tensor {key!r} is not a peft lora_A/lora_B weight (embedding LoRA, DoRA, "
                "bias and modules_to_save cannot be served by llama.cpp); train LoRA on linear "
                "layers only"
            )
        module = m["module"]
        name = tmap.get_name(module + ".weight", try_suffixes=(".weight",))
        if name is None:
            raise ModelError(
                f"LoRA module {module!r} has no llama.cpp {base.architecture} tensor; "
                "target only q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
            )
        if name not in base.tensors:
            raise ModelError(
                f"LoRA module {module!r} maps to {name}, which the base model does not have "
                "(e.g. lm_head of a model with tied embeddings); drop it from target_modules"
            )
        modules[name] = module
        halves.setdefault(name, {})[m["half"]] = tensor.detach().float().cpu().numpy()
    out: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    for name, ab in halves.items():
        if "A" not in ab or "B" not in ab:
            missing = "lora_B" if "A" in ab else "lora_A"
            raise ModelError(f"LoRA module {modules[name]!r} has no {missing}; export it whole")
        out[name] = (ab["A"], ab["B"], modules[name])
    if not out:
        raise ModelError("the LoRA state dict is empty; nothing to export")
    return out


def export_lora(
    out: Path,
    lora: Mapping[str, torch.Tensor],
    *,
    base_gguf: Path,
    alpha: float,
    extra: Mapping[str, Scalar] | None = None,
    dtype: Literal["f32", "f16"] = "f32",
) -> ExportReport:
    """Write ``lora`` (``peft.get_peft_model_state_dict``) as a llama.cpp LoRA GGUF at ``out``.

    ``alpha`` is peft's ``lora_alpha``; ``extra`` is stored as ``ceoline.<key>``. The file is
    written to a temporary name next to ``out`` and renamed, so a failure leaves nothing behind.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha} (llama.cpp treats 0 as 'unscaled')")
    base = _read_base(base_gguf)
    if base.architecture not in _PERMUTED_QK:
        raise ModelError(
            f"base model {base_gguf} is a {base.architecture!r} model; the LoRA exporter "
            "supports llama-architecture GGUFs only"
        )
    if base.n_head <= 0 or base.n_head_kv <= 0:
        raise ModelError(
            f"base model {base_gguf} records no attention head counts; not a llama GGUF"
        )
    np_dtype = np.float16 if dtype == "f16" else np.float32
    arrays: dict[str, np.ndarray] = {}
    ranks: set[int] = set()
    for name, (a, b, module) in sorted(_pairs(lora, base).items()):
        if a.ndim != 2 or b.ndim != 2:
            raise ModelError(f"LoRA module {module!r} has non-matrix lora_A/lora_B; cannot export")
        # numpy shapes (r, n_in) and (n_out, r) are GGML ne [n_in, r] and [r, n_out]
        problem = _shape_problem(name, base.tensors[name], a.shape[::-1], b.shape[::-1])
        if problem:
            raise ModelError(f"LoRA module {module!r} does not fit {base_gguf.name}: {problem}")
        if name.endswith(".attn_q.weight"):
            b = _permute_rows(b, base.n_head)
        elif name.endswith(".attn_k.weight"):
            b = _permute_rows(b, base.n_head_kv)
        ranks.add(a.shape[0])
        arrays[name + ".lora_a"] = np.ascontiguousarray(a, dtype=np_dtype)
        arrays[name + ".lora_b"] = np.ascontiguousarray(b, dtype=np_dtype)

    digest = sha256_file(base_gguf)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer = gguf.GGUFWriter(tmp, base.architecture)
        try:
            writer.add_type(gguf.GGUFType.ADAPTER)
            writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
            writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
            writer.add_string(KEY_BASE_SHA256, digest)
            writer.add_string(KEY_BASE_NAME, base_gguf.name)
            for key, value in (extra or {}).items():
                _add_scalar(writer, PREFIX + key.removeprefix(PREFIX), value)
            for name, array in arrays.items():
                writer.add_tensor(name, array)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
        finally:
            writer.close()
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        # mkstemp makes the file private; the hotline's service user must be able to read it.
        tmp.chmod(0o644)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportReport(
        path=out,
        architecture=base.architecture,
        alpha=float(alpha),
        rank=ranks.pop() if len(ranks) == 1 else 0,
        base_sha256=digest,
        base_name=base_gguf.name,
        tensors={name: tuple(arr.shape[::-1]) for name, arr in arrays.items()},
    )


def _add_scalar(writer: gguf.GGUFWriter, key: str, value: Scalar) -> None:
    if key in (KEY_BASE_SHA256, KEY_BASE_NAME):
        raise ValueError(f"{key} is written by the exporter; do not pass it in extra")
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_int64(key, value)
    elif isinstance(value, float):
        writer.add_float64(key, value)
    elif isinstance(value, str):
        writer.add_string(key, value)
    else:
        raise TypeError(f"extra[{key!r}] must be str, int or float, got {type(value).__name__}")


def read_adapter(path: Path) -> AdapterInfo:
    """The metadata and tensor shapes of a llama.cpp LoRA adapter GGUF (header only)."""
    path = Path(path)
    meta, tensors = read_header(path, "LoRA adapter", RETRAIN_HINT)
    general_type = meta.get(gguf.Keys.General.TYPE)
    adapter_type = meta.get(gguf.Keys.Adapter.TYPE)
    if general_type != "adapter" or adapter_type != "lora":
        raise ModelError(
            f"{path} is not a LoRA adapter (general.type={general_type!r}, "
            f"adapter.type={adapter_type!r}); set [models] adapter to a file written by "
            '`ceoline persona train`, or to ""'
        )
    metadata = {key: value for key, value in meta.items() if key.startswith(PREFIX)}
    sha, name = metadata.get(KEY_BASE_SHA256), metadata.get(KEY_BASE_NAME)
    return AdapterInfo(
        path=path,
        architecture=str(meta.get(gguf.Keys.General.ARCHITECTURE, "")),
        alpha=float(meta.get(gguf.Keys.Adapter.LORA_ALPHA, 0.0)),
        base_sha256=sha if isinstance(sha, str) else None,
        base_name=name if isinstance(name, str) else None,
        tensors=tensors,
        metadata=metadata,
    )


def check_adapter_fits(adapter: Path, base: Path, base_sha256: str) -> AdapterInfo:
    """Raise :class:`ModelError` (one line) unless ``adapter`` was made for ``base``.

    Checks, from GGUF metadata only: architecture, the recorded base sha256 against
    ``base_sha256``, and llama.cpp's own pairing, name and shape rules against the base tensors.
    """
    info = read_adapter(adapter)
    model = _read_base(Path(base))
    where = f"LoRA adapter {info.path.name}"
    if info.architecture != model.architecture:
        raise ModelError(
            f"{where} is for a {info.architecture!r} model but {Path(base).name} is "
            f"{model.architecture!r}; {RETRAIN_HINT}"
        )
    if info.base_sha256 is None:
        raise ModelError(
            f"{where} records no base model hash ({KEY_BASE_SHA256}), so it cannot be matched "
            f"to {Path(base).name}; {RETRAIN_HINT}"
        )
    if info.base_sha256 != base_sha256:
        raise ModelError(
            f"{where} was trained on base {_short(info.base_sha256)} "
            f"({info.base_name or 'unknown'}) but the configured base {Path(base).name} is "
            f"{_short(base_sha256)}; {RETRAIN_HINT}"
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in info.tensors.items():
        for suffix in (".lora_a", ".lora_b"):
            if name.endswith(suffix):
                pairs.setdefault(name.removesuffix(suffix), {})[suffix] = shape
                break
        else:
            if not name.endswith("_norm.weight"):  # llama.cpp skips these, refuses the rest
                raise ModelError(
                    f"{where} has tensor {name} with an unexpected suffix; {RETRAIN_HINT}"
                )
    if not pairs:
        raise ModelError(f"{where} has no lora_a/lora_b tensors; {RETRAIN_HINT}")
    for name, ab in sorted(pairs.items()):
        if len(ab) != 2:
            raise ModelError(f"{where}: tensor pair for {name} is missing one half; {RETRAIN_HINT}")
        if name not in model.tensors:
            raise ModelError(
                f"{where} adapts {name}, which {Path(base).name} does not have; {RETRAIN_HINT}"
            )
        problem = _shape_problem(name, model.tensors[name], ab[".lora_a"], ab[".lora_b"])
        if problem:
            raise ModelError(f"{where} does not fit {Path(base).name}: {problem}; {RETRAIN_HINT}")
    return info
