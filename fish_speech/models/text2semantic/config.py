"""`config.json` of the text2semantic checkpoints, parsed the way upstream v1.5.1 does.

Rules that matter for compatibility: `head_dim` is always dim // n_head for 1.5 (the JSON value is
ignored; S1-mini and S2-Pro keep a given value: `keep_head_dim`),
`intermediate_size` None becomes round_up(int(8*dim/3), 256), `n_local_heads` -1 means n_head, and
the fast_* fields fall back to their slow counterparts (0 counts as unset). Unknown keys are an
error, as upstream.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import InitVar, dataclass
from pathlib import Path

from fish_speech.errors import FishError


def _round_up(n: int, k: int) -> int:
    return n if n % k == 0 else n + k - n % k


@dataclass
class ModelArgs:
    model_type: str = "dual_ar"
    vocab_size: int = 32000
    n_layer: int = 32
    n_head: int = 32
    dim: int = 4096
    intermediate_size: int | None = None
    n_local_heads: int = -1
    head_dim: int = 64
    rope_base: float = 10000
    norm_eps: float = 1e-5
    max_seq_len: int = 2048
    dropout: float = 0.0
    tie_word_embeddings: bool = True
    attention_qkv_bias: bool = False
    codebook_size: int = 160
    num_codebooks: int = 4
    use_gradient_checkpointing: bool = True
    initializer_range: float = 0.02
    is_reward_model: bool = False
    share_codebook_embeddings: bool = True
    scale_codebook_embeddings: bool = False
    # dual_ar only
    n_fast_layer: int = 4
    fast_dim: int | None = None
    fast_n_head: int | None = None
    fast_n_local_heads: int | None = None
    fast_head_dim: int | None = None
    fast_intermediate_size: int | None = None
    fast_attention_qkv_bias: bool | None = None
    # S1-mini / S2-Pro switches (all off for 1.5)
    attention_o_bias: bool = False
    attention_qk_norm: bool = False  # per-head RMSNorm on q and k before RoPE
    fast_attention_o_bias: bool | None = None
    fast_attention_qk_norm: bool | None = None
    norm_fastlayer_input: bool = False  # S2: the fast model reads the slow state after the final norm
    keep_head_dim: InitVar[bool] = False  # S1/S2 rule: a given head_dim is kept (1.5 recomputes it)

    def __post_init__(self, keep_head_dim: bool = False):
        self.honours_head_dim = keep_head_dim
        if self.n_local_heads == -1:
            self.n_local_heads = self.n_head
        if self.intermediate_size is None:
            self.intermediate_size = _round_up(int(2 * 4 * self.dim / 3), 256)
        if not keep_head_dim or not self.head_dim:
            self.head_dim = self.dim // self.n_head
        self.fast_dim = self.fast_dim or self.dim
        self.fast_n_head = self.fast_n_head or self.n_head
        self.fast_n_local_heads = self.fast_n_local_heads or self.n_local_heads
        self.fast_head_dim = self.fast_head_dim or self.head_dim
        self.fast_intermediate_size = self.fast_intermediate_size or self.intermediate_size
        if self.fast_attention_qkv_bias is None:
            self.fast_attention_qkv_bias = self.attention_qkv_bias
        if self.fast_attention_o_bias is None:
            self.fast_attention_o_bias = self.attention_o_bias
        if self.fast_attention_qk_norm is None:
            self.fast_attention_qk_norm = self.attention_qk_norm

    def fast_block_args(self) -> "ModelArgs":
        """The args the fast layers are built from. 1.5: post-init recomputes head_dim from fast_dim;
        S1/S2: `fast_head_dim` is honoured."""
        return dataclasses.replace(
            self,
            dim=self.fast_dim,
            n_head=self.fast_n_head,
            n_local_heads=self.fast_n_local_heads,
            head_dim=self.fast_head_dim,
            intermediate_size=self.fast_intermediate_size,
            attention_qkv_bias=self.fast_attention_qkv_bias,
            attention_o_bias=self.fast_attention_o_bias,
            attention_qk_norm=self.fast_attention_qk_norm,
            keep_head_dim=self.honours_head_dim,
        )

    @classmethod
    def from_dict(cls, data: dict, keep_head_dim: bool = False) -> "ModelArgs":
        kind = data.get("model_type")
        if kind not in ("dual_ar", "naive"):
            raise FishError(422, "config.model_type", f"unsupported model_type {kind!r}; expected 'dual_ar' or 'naive'")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FishError(422, "config", f"unknown config keys: {', '.join(unknown)}")
        args = cls(**data, keep_head_dim=keep_head_dim)
        if args.is_reward_model:
            raise FishError(
                422, "config.is_reward_model", "reward models cannot generate; is_reward_model must be false"
            )
        return args

    @classmethod
    def load(cls, path: str | Path, keep_head_dim: bool = False) -> "ModelArgs":
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FishError(404, "checkpoint", f"config file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise FishError(422, "checkpoint", f"{path} is not valid JSON: {e}") from None
        return cls.from_dict(data, keep_head_dim)

    def to_json(self) -> str:
        """Serialise like upstream `save()`: indent 4, sorted keys."""
        return json.dumps(dataclasses.asdict(self), indent=4, sort_keys=True)
