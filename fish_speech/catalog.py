"""The checkpoints the worker can serve: which folder `MODEL` (or the checkpoint path) names, where it is
downloaded from, how much GPU memory it needs and under which licence its weights come.

    python -m fish_speech.catalog plan      # what the entrypoint would use and fetch (no network)
    python -m fish_speech.catalog ensure    # download what is missing, then print shell exports

entrypoint.sh runs `ensure` and evals its output; settings (MODEL, LLAMA_CHECKPOINT_PATH, HF_REPO,
HF_TOKEN, DOWNLOAD_CHECKPOINTS) come from `fish_speech.settings`. Pure data and the file system here:
no torch, so the entrypoint starts this quickly.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

FISH_15, S1_MINI, S2_PRO = "fish-speech-1.5", "openaudio-s1-mini", "fish-audio-s2-pro"  # = detect.FAMILIES


@dataclass(frozen=True)
class Checkpoint:
    model: str  # the MODEL value and the folder name under checkpoints/
    family: str  # what fish_speech.models.text2semantic.detect calls it
    repo: str  # Hugging Face repository
    files: tuple[str, ...]  # present once downloaded (the codec included)
    weights_gb: float  # bf16 weights of the language model
    gpu_gb: int  # smallest GPU that holds weights, KV cache and codec with room to work
    licence: str
    gated: bool  # the Hub asks to accept the licence first: HF_TOKEN of an account that did


CHECKPOINTS = {
    c.model: c
    for c in (
        Checkpoint(
            FISH_15,
            FISH_15,
            "fishaudio/fish-speech-1.5",
            ("config.json", "model.pth", "tokenizer.tiktoken", "firefly-gan-vq-fsq-8x1024-21hz-generator.pth"),
            1.0,
            8,
            "CC-BY-NC-SA-4.0",
            False,
        ),
        Checkpoint(
            S1_MINI,
            S1_MINI,
            "fishaudio/openaudio-s1-mini",
            ("config.json", "model.pth", "tokenizer.tiktoken", "special_tokens.json", "codec.pth"),
            1.7,
            8,
            "CC-BY-NC-SA-4.0",
            True,
        ),
        Checkpoint(
            "s2-pro",
            S2_PRO,
            "fishaudio/s2-pro",
            ("config.json", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", "codec.pth"),
            9.2,
            24,
            "Fish Audio Research License (commercial use needs a licence from Fish Audio)",
            True,
        ),
    )
}
DEFAULT_MODEL = FISH_15
# Other spellings of MODEL (the family names, the short ones).
ALIASES = {"1.5": FISH_15, "s1-mini": S1_MINI, S2_PRO: "s2-pro", "s2": "s2-pro"}
MODEL_CHOICES = tuple(CHECKPOINTS) + tuple(ALIASES)


def by_name(name: str | None) -> Checkpoint | None:
    """The checkpoint a MODEL value (or a folder name) names, or None."""
    if not name:
        return None
    name = name.strip().lower()
    return CHECKPOINTS.get(ALIASES.get(name, name))


def shards(folder: Path) -> list[str]:
    """The safetensors shards the index of an S2-Pro folder lists (they must be there too)."""
    index = folder / "model.safetensors.index.json"
    try:
        weight_map = json.loads(index.read_text()).get("weight_map", {})
    except (OSError, ValueError, AttributeError):
        return []
    return sorted(set(weight_map.values())) if isinstance(weight_map, dict) else []


@dataclass(frozen=True)
class Plan:
    checkpoint: Checkpoint
    path: Path  # the language-model folder
    codec: Path  # the codec file (DECODER_CHECKPOINT_PATH, else the family's file in the folder)
    repo: str  # where missing files come from

    def missing(self) -> list[Path]:
        # each family's list ends with its codec file, which DECODER_CHECKPOINT_PATH may put elsewhere
        need = [self.path / f for f in self.checkpoint.files[:-1]] + [self.codec]
        need += [self.path / s for s in shards(self.path)]
        return [p for p in need if not p.is_file()]


def default_path(model: str) -> str:
    """LLAMA_CHECKPOINT_PATH when only MODEL is set (relative: the entrypoint puts it under its --root)."""
    return f"checkpoints/{model}"


def _detected(folder: Path) -> Checkpoint | None:
    """The checkpoint of an existing folder, told from its files (imports the model code: torch)."""
    if not (folder / "config.json").is_file():
        return None
    from fish_speech.errors import FishError
    from fish_speech.models.text2semantic.detect import detect_family

    try:
        family = detect_family(folder)
    except FishError:
        return None
    return next(c for c in CHECKPOINTS.values() if c.family == family)


def plan(settings, root: str | Path = "checkpoints") -> Plan:
    """Without LLAMA_CHECKPOINT_PATH, MODEL (else 1.5) is served from `root/<model>`. A folder set by hand
    is what its files say, else MODEL, else what its name says, else 1.5. HF_REPO overrides the
    repository, DECODER_CHECKPOINT_PATH the codec file."""
    named = by_name(settings.model)
    default = named or CHECKPOINTS[DEFAULT_MODEL]
    if settings.checkpoint_path == default_path(default.model):  # not set by hand
        chosen, path = default, Path(root) / default.model
    else:
        path = Path(settings.checkpoint_path)
        chosen = _detected(path) or named or by_name(path.name) or CHECKPOINTS[DEFAULT_MODEL]
    codec = Path(settings.codec_path) if settings.codec_path else path / chosen.files[-1]
    return Plan(chosen, path, codec, settings.hf_repo or chosen.repo)


def download(p: Plan, token: str | None) -> None:
    """Fetch the whole repository into the folder (what `hf download REPO --local-dir DIR` does)."""
    from huggingface_hub import snapshot_download

    kwargs = {"token": token} if token else {}  # a gated repository needs an account that accepted it
    snapshot_download(repo_id=p.repo, local_dir=str(p.path), **kwargs)


def ensure(settings, root: str | Path) -> Plan:
    """The plan, with missing files downloaded when DOWNLOAD_CHECKPOINTS allows; SystemExit naming
    what is still missing and how to get it otherwise."""
    p = plan(settings, root)
    if p.missing() and settings.download_checkpoints:
        print(f"entrypoint: checkpoints missing; downloading {p.repo} to {p.path}", file=sys.stderr)
        try:
            download(p, settings.hf_token)
        except ImportError:
            print("entrypoint: huggingface_hub is not installed (pip install huggingface_hub)", file=sys.stderr)
        except Exception as err:  # noqa: BLE001 - network, auth, disk: the check below says what is missing
            print(f"entrypoint: download failed: {type(err).__name__}: {err}", file=sys.stderr)
    still = p.missing()
    if still:
        gated = (
            f"{p.repo} is gated: accept its licence on huggingface.co and set HF_TOKEN.\n" if p.checkpoint.gated else ""
        )
        raise SystemExit(
            "entrypoint: ERROR: Fish Speech checkpoints not found:\n"
            + "".join(f"  {f}\n" for f in still)
            + gated
            + "Set MODEL (fish-speech-1.5, openaudio-s1-mini, s2-pro) or LLAMA_CHECKPOINT_PATH (model folder) and\n"
            "DECODER_CHECKPOINT_PATH (codec file), bake them into the image (docker build --build-arg\n"
            "DOWNLOAD_WEIGHTS=true), or allow the download (DOWNLOAD_CHECKPOINTS=true with network access\n"
            "to the Hugging Face Hub)."
        )
    return p


def exports(p: Plan) -> str:
    return (
        f"export LLAMA_CHECKPOINT_PATH={shlex.quote(str(p.path))}\n"
        f"export DECODER_CHECKPOINT_PATH={shlex.quote(str(p.codec))}\n"
        f"export MODEL_FAMILY={shlex.quote(p.checkpoint.family)}\n"
    )


def main(argv=None) -> int:
    from fish_speech.settings import Settings, SettingsError

    ap = argparse.ArgumentParser(prog="python -m fish_speech.catalog", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("plan", "ensure"), help="plan: print the choice as JSON; ensure: fetch")
    ap.add_argument("--root", default="checkpoints", help="folder of MODEL's checkpoint folders")
    a = ap.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        raise SystemExit(f"entrypoint: ERROR: {err}") from None
    if a.action == "plan":
        p = plan(settings, a.root)
        out = {**asdict(p.checkpoint), "path": str(p.path), "codec": str(p.codec), "repo": p.repo}
        print(json.dumps({**out, "missing": [str(m) for m in p.missing()]}, indent=1))
        return 0
    print(exports(ensure(settings, a.root)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
