"""timm weights served offline from a local Hugging Face Hub cache: verified by the Hub's sha256, pinned, refused
when one byte changes. Nothing downloads: the cache is written here in huggingface_hub's layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import securitynet
from securitynet.catalog.sources.timm_hub import card_for_tag
from securitynet.errors import ChecksumError, WeightsError
from securitynet.zoo.hub_weights import parse_hub_url

TAG = "test_efficientnet.r160_in1k"  # 0.4M parameters; timm's own tiny test model
CARD_ID = f"timm/{TAG}"


def _safetensors_of_random_model(seed: int = 0) -> tuple[bytes, dict[str, torch.Tensor]]:
    import timm
    from safetensors.torch import save

    torch.manual_seed(seed)
    state = {k: v.detach().clone().contiguous() for k, v in timm.create_model(TAG).state_dict().items()}
    return save(state), state


def _flip_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_load_serves_timm_weights_offline_from_the_hub_cache_and_pins_the_card(hub_cache, store) -> None:
    data, state = _safetensors_of_random_model()
    blob = hub_cache(f"timm/{TAG}", "model.safetensors", data)

    target = securitynet.load(CARD_ID, store=store, device="cpu")

    assert target.weight_hash == f"sha256:{blob.name}"
    loaded = target.module.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    images = np.random.default_rng(0).integers(0, 256, size=(2, 200, 180, 3), dtype=np.uint8)
    probs = target.predict_proba(images)
    assert probs.shape == (2, 1000) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    pinned = store.get_card(CARD_ID)
    assert pinned.weights.sha256 == blob.name
    assert "weights.sha256" not in pinned.missing_reasons
    file = parse_hub_url(pinned.weights.urls[0])
    assert file is not None and file.repo_id == f"timm/{TAG}" and len(file.revision) == 40


def test_a_flipped_byte_is_refused_before_any_use_and_nothing_is_stored(hub_cache, store) -> None:
    data, _ = _safetensors_of_random_model()
    blob = hub_cache(f"timm/{TAG}", "model.safetensors", data)
    _flip_one_byte(blob)

    with pytest.raises(ChecksumError, match=r"sha256 .*the Hub reports .*not used"):
        securitynet.load(CARD_ID, store=store, device="cpu")
    assert store.model_ids() == []


def test_a_pinned_card_checks_its_recorded_sha256_on_every_later_use(hub_cache, store) -> None:
    data, _ = _safetensors_of_random_model()
    blob = hub_cache(f"timm/{TAG}", "model.safetensors", data)
    securitynet.load(CARD_ID, store=store, device="cpu")  # pins the card

    # Same bytes under another blob name: only the recorded sha256 can notice the change.
    other, _ = _safetensors_of_random_model(seed=1)
    blob.write_bytes(other)
    with pytest.raises(ChecksumError, match="the card records"):
        securitynet.load(CARD_ID, store=store, device="cpu")


def test_a_file_missing_from_the_offline_cache_says_where_it_looked(hub_cache, store) -> None:
    with pytest.raises(WeightsError, match="not in the local Hub cache"):
        securitynet.load(CARD_ID, store=store, device="cpu")


def test_the_card_of_a_tag_names_its_hub_file() -> None:
    card = card_for_tag(TAG)
    file = parse_hub_url(card.weights.urls[0])
    assert (file.repo_id, file.revision, file.filename) == (f"timm/{TAG}", "main", "model.safetensors")
    assert card.weights.sha256 is None and "weights.sha256" in card.missing_reasons


def test_a_repo_without_safetensors_falls_back_to_pytorch_model_bin(hub_cache, store, tmp_path) -> None:
    """safetensors first: the card names model.safetensors; a repo holding only pytorch_model.bin serves that,
    read without running code (weights_only), and the pinned card names it."""
    _, state = _safetensors_of_random_model()
    torch.save(state, tmp_path / "pytorch_model.bin")
    blob = hub_cache(f"timm/{TAG}", "pytorch_model.bin", (tmp_path / "pytorch_model.bin").read_bytes())

    target = securitynet.load(CARD_ID, store=store, device="cpu")

    assert target.weight_hash == f"sha256:{blob.name}"
    pinned = store.get_card(CARD_ID)
    assert pinned.weights.filename == "pytorch_model.bin" and pinned.weights.format == "state_dict"
    assert pinned.weights.urls[0].endswith("/pytorch_model.bin")


def test_an_unreachable_hub_leaves_the_verified_cache_in_use(hub_cache, store, monkeypatch) -> None:
    """Without HF_HUB_OFFLINE, a Hub that cannot be asked for the file's sha256 is no error when the cache holds
    the file: it is checked against its blob name. (The download itself is kept to the cache here, since
    hf_hub_download would otherwise try the network first.)"""
    import huggingface_hub

    from securitynet.zoo import hub_weights

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to huggingface.co")

    download = hub_weights.download_hub_file
    data, _ = _safetensors_of_random_model()
    blob = hub_cache(f"timm/{TAG}", "model.safetensors", data)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", unreachable)
    monkeypatch.setattr(hub_weights, "download_hub_file", lambda file, offline: download(file, offline=True))
    assert securitynet.load(CARD_ID, store=store, device="cpu").weight_hash == f"sha256:{blob.name}"
