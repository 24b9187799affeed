"""Model files a user can trust: HMAC signatures, SHA-256 pins, and nothing unpickled before the checks."""

import hashlib
import io
import json

import joblib
import numpy as np
import pytest

from cnnsvm.exceptions import ConfigError, ModelFileError
from cnnsvm.pipeline import MODEL_KEY_ENV, load, read_metadata, save, sidecar_path, sign_model


class WritesAFile:
    """Unpickling this runs code: it writes a marker file (what a malicious model file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('the payload ran')",))


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv(MODEL_KEY_ENV, raising=False)


def _replace_payload(path, obj, *, update_sidecar, key=None):
    """Swap the model file for ``obj``'s pickle, as someone who can write both files would."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    payload = buffer.getvalue()
    path.write_bytes(payload)
    if update_sidecar:
        meta = json.loads(sidecar_path(path).read_text())
        meta["payload"].update(bytes=len(payload), sha256=hashlib.sha256(payload).hexdigest())
        sidecar_path(path).write_text(json.dumps(meta))
        if key is not None:
            sign_model(path, key=key)
    return hashlib.sha256(payload).hexdigest()


def test_signed_files_load_with_their_key_only(tmp_path, fitted_pca_svc, monkeypatch):
    X = np.zeros((2, 8, 8), np.uint8)
    path = save(fitted_pca_svc, tmp_path / "signed.joblib", key="first secret")
    signature = read_metadata(path)["signature"]
    assert signature["algorithm"] == "HMAC-SHA256" and len(signature["value"]) == 64
    assert np.array_equal(load(path, key="first secret").predict(X), fitted_pca_svc.predict(X))
    monkeypatch.setenv(MODEL_KEY_ENV, "first secret")
    load(path)
    monkeypatch.setenv(MODEL_KEY_ENV, "another secret")
    with pytest.raises(ModelFileError, match="does not match the model key .CNNSVM_MODEL_KEY."):
        load(path)
    with pytest.raises(ModelFileError, match=r"does not match the model key \(key=\)"):
        load(path, key="a third secret")

    assert "signature" in read_metadata(save(fitted_pca_svc, tmp_path / "env.joblib"))  # the env key signs
    monkeypatch.delenv(MODEL_KEY_ENV)
    unsigned = save(fitted_pca_svc, tmp_path / "plain.joblib")
    assert "signature" not in read_metadata(unsigned)
    load(unsigned)  # no key set: the sidecar's checksum is all there is
    monkeypatch.setenv(MODEL_KEY_ENV, "first secret")
    with pytest.raises(ModelFileError, match="is not signed.*cnnsvm sign"):
        load(unsigned)
    sign_model(unsigned, sha256=read_metadata(unsigned)["payload"]["sha256"])
    load(unsigned)
    monkeypatch.setenv(MODEL_KEY_ENV, "")
    with pytest.raises(ConfigError, match="empty"):
        load(unsigned)


def test_signature_covers_the_metadata(tmp_path, fitted_pca_svc):
    path = save(fitted_pca_svc, tmp_path / "m.joblib", class_names=list("abcdefghij"), key="k")
    meta = json.loads(sidecar_path(path).read_text())
    meta["class_names"][0], meta["class_names"][1] = "b", "a"  # swap two class names
    sidecar_path(path).write_text(json.dumps(meta, indent=1))
    load(path)  # without the key nothing can tell
    with pytest.raises(ModelFileError, match="changed after signing"):
        load(path, key="k")


def test_pinned_sha256(tmp_path, fitted_pca_svc):
    path = save(fitted_pca_svc, tmp_path / "m.joblib")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    load(path, sha256=digest.upper())
    with pytest.raises(ModelFileError, match="not the pinned"):
        load(path, sha256="0" * 64)
    with pytest.raises(ConfigError, match="64 hexadecimal digits"):
        load(path, sha256="abc")


@pytest.mark.parametrize(
    "attack", ["stale sidecar", "pinned hash", "signed with another key", "unsigned under a key", "old signature"]
)
def test_a_payload_with_side_effects_never_runs_when_a_check_fails(attack, tmp_path, fitted_pca_svc):
    marker = tmp_path / "marker.txt"
    path = save(fitted_pca_svc, tmp_path / "m.joblib", key="the owner's key")
    good = read_metadata(path)["payload"]["sha256"]
    if attack == "stale sidecar":  # the payload is replaced, the sidecar left as it was
        _replace_payload(path, WritesAFile(marker), update_sidecar=False)
        calls = [dict()]
    elif attack == "pinned hash":  # both files replaced consistently; the user pinned the real hash
        _replace_payload(path, WritesAFile(marker), update_sidecar=True)
        calls = [dict(sha256=good)]
    elif attack == "signed with another key":
        _replace_payload(path, WritesAFile(marker), update_sidecar=True, key="the attacker's key")
        calls = [dict(key="the owner's key")]
    elif attack == "unsigned under a key":
        _replace_payload(path, WritesAFile(marker), update_sidecar=True)
        meta = json.loads(sidecar_path(path).read_text())
        meta.pop("signature")
        sidecar_path(path).write_text(json.dumps(meta))
        calls = [dict(key="the owner's key")]
    else:  # "old signature": consistent files, the owner's signature no longer matches
        _replace_payload(path, WritesAFile(marker), update_sidecar=True)
        calls = [dict(key="the owner's key")]
    for kwargs in calls:
        with pytest.raises(ModelFileError):
            load(path, **kwargs)
    assert not marker.exists()
    if attack != "stale sidecar":
        # control: with no key and no pin, the consistent forgery is unpickled -- and the payload runs
        with pytest.raises(ModelFileError, match="does not hold a predictor"):
            load(path)
        assert marker.read_text() == "the payload ran"


def test_format_1_files_still_load_as_light_ink_models(tmp_path, fitted_pca_svc):
    import copy

    old = copy.deepcopy(fitted_pca_svc)
    prep = old.named_steps["preprocess"]
    del prep.ink, prep.ink_  # what a model pickled before the ink parameter holds
    buffer = io.BytesIO()
    joblib.dump(old, buffer, compress=3)
    path = tmp_path / "v1.joblib"
    path.write_bytes(buffer.getvalue())
    meta = read_metadata(save(fitted_pca_svc, tmp_path / "v2.joblib"))
    meta.update(
        format_version=1,
        payload={
            "file": path.name,
            "bytes": len(buffer.getvalue()),
            "sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        },
    )
    meta["input"] = {
        "image_shape": [8, 8],
        "model_size": 8,
        "ink": "light",
        "fill_fraction": 1.0,
        "pixel_range": "0..255 (or 0..1 floats)",
    }
    sidecar_path(path).write_text(json.dumps(meta))
    loaded = load(path)
    assert loaded.named_steps["preprocess"].ink == "light" and loaded.named_steps["preprocess"].ink_ == "light"
    X = np.random.default_rng(0).integers(0, 256, (5, 8, 8)).astype(np.uint8)
    assert np.array_equal(loaded.predict(X), fitted_pca_svc.set_params(preprocess__ink="light").predict(X))
    fitted_pca_svc.set_params(preprocess__ink="auto")
    with pytest.raises(ModelFileError, match="not signed"):
        load(path, key="k")
