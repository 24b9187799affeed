"""Model files: export with joblib plus a JSON sidecar, and verified loading.

:func:`save` writes a model with joblib plus a JSON sidecar (versions, classes,
input contract, SHA-256 of the payload, and an HMAC-SHA256 signature when a key
is set); :func:`load` verifies it before unpickling.

A model file is a pickle: loading one can run any code its author put in it.
Load only files from a source you trust. The sidecar's SHA-256 catches
corruption and truncation, not tampering (whoever can replace the model file can
replace the sidecar beside it). Two things do protect against tampering:
a secret key (``CNNSVM_MODEL_KEY`` or ``key=``), with which :func:`save` signs
the payload and its metadata and :func:`load` refuses unsigned or differently
signed files; and ``load(path, sha256=...)``, which pins one known file.

Also importable from :mod:`cnnsvm.pipeline` (where these functions were defined before).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import NotFittedError

from cnnsvm._io import atomic_write_bytes
from cnnsvm._json import to_jsonable
from cnnsvm.exceptions import ConfigError, ModelFileError
from cnnsvm.model_structure import describe_method, find_preprocessor, is_fitted

FORMAT = "cnnsvm-model"
#: Version 2 (cnnsvm 0.1 after issue 10): the input contract (ink polarity, framing, pixel contract)
#: and an optional HMAC-SHA256 signature. Version 1 files still load (their models took light ink).
FORMAT_VERSION = 2
SIDECAR_SUFFIX = ".json"

#: Environment variable holding the secret key that signs and verifies model files.
MODEL_KEY_ENV = "CNNSVM_MODEL_KEY"
SIGNATURE_ALGORITHM = "HMAC-SHA256"
_SIGNED_PREFIX = b"cnnsvm-model-signature-v1\n"


def library_versions():
    """Versions of Python and of the libraries a model file depends on."""
    import keras
    import sklearn
    import tensorflow as tf

    import cnnsvm

    return {
        "cnnsvm": cnnsvm.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "joblib": joblib.__version__,
    }


def sidecar_path(path):
    """Path of the JSON metadata file that accompanies the model file ``path``."""
    path = Path(path)
    return path.with_name(path.name + SIDECAR_SUFFIX)


def save(model, path, *, class_names=None, metadata=None, overwrite=False, key=None):
    """Export a fitted model with joblib, and its metadata beside it.

    Parameters
    ----------
    model : fitted estimator
        Usually a pipeline from :func:`make_hybrid`, :func:`make_pca_svc` or :func:`make_cnn`.
    path : str or Path
        The model file; the sidecar is ``path + ".json"``.
    class_names : list of str, optional
        Display name of each class, ordered as ``model.classes_``.
    metadata : dict, optional
        Extra JSON-serialisable facts to record (dataset, scores, configuration).
    overwrite : bool, default=False
        Replace existing files; without it an existing file is never touched.
    key : str or bytes, optional
        Secret key: sign the payload's SHA-256 and all the metadata with HMAC-SHA256,
        so that :func:`load` with the same key can tell that neither file was
        changed. Defaults to the environment variable ``CNNSVM_MODEL_KEY``; with
        neither, the file is not signed.

    Returns
    -------
    pathlib.Path
        The model file's path.
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    if not overwrite:
        for p in (path, sidecar):
            if p.exists():
                raise ModelFileError(
                    f"{p} already exists; choose another path, or pass overwrite=True (CLI: --force) to replace it"
                )
    if not is_fitted(model):
        raise NotFittedError("the model is not fitted yet: call fit before saving it")
    classes = getattr(model, "classes_", None)
    if class_names is not None and classes is not None and len(class_names) != len(classes):
        raise ModelFileError(f"{len(class_names)} class names given for a model of {len(classes)} classes")
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    payload = buffer.getvalue()
    prep = find_preprocessor(model)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": describe_method(model),
        "classes": to_jsonable(classes),
        "class_names": [str(c) for c in class_names]
        if class_names is not None
        else ([str(c) for c in to_jsonable(classes)] if classes is not None else None),
        "class_names_given": class_names is not None,
        "input": _input_contract(prep),
        "versions": library_versions(),
        "payload": {"file": path.name, "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()},
        "metadata": metadata or {},
    }
    signing_key, _ = model_key(key)
    meta = json.loads(json.dumps(to_jsonable(meta)))  # exactly what load will read
    if signing_key is not None:
        meta["signature"] = _signature_entry(meta, signing_key)
    text = json.dumps(meta, indent=2, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, payload)
    atomic_write_bytes(sidecar, text.encode("utf-8"))
    return path


def _input_contract(prep):
    """The ``input`` section of a sidecar: what the model expects of its inputs."""
    if prep is None:
        return {"image_shape": None, "model_size": None, "pixels": None, "ink": None, "framing": None}
    contract = prep.input_contract()
    contract["fill_fraction"] = contract["framing"]["fill_fraction"]  # as in format 1
    return contract


def model_key(key=None):
    """The secret key that signs and verifies model files, and where it came from.

    Parameters
    ----------
    key : str or bytes, optional
        An explicit key; else the environment variable ``CNNSVM_MODEL_KEY``.

    Returns
    -------
    key : bytes or None
        ``None`` when no key is set.
    source : str
        ``"key="`` or ``"CNNSVM_MODEL_KEY"`` (for messages).
    """
    source = "key="
    if key is None:
        key, source = os.environ.get(MODEL_KEY_ENV), MODEL_KEY_ENV
        if key is None:
            return None, source
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigError(f"a model key must be a string or bytes, got {type(key).__name__}")
    if not key:
        raise ConfigError(
            f"the model key ({source}) is empty; set it to a secret string, or unset {MODEL_KEY_ENV} "
            "to use model files without signatures"
        )
    return bytes(key), source


def _signed_message(meta):
    body = {k: v for k, v in meta.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _SIGNED_PREFIX + text.encode("ascii")


def _signature_entry(meta, key):
    return {
        "algorithm": SIGNATURE_ALGORITHM,
        "covers": "every other field of this file, including the payload's size and SHA-256",
        "value": hmac.new(key, _signed_message(meta), hashlib.sha256).hexdigest(),
    }


def verify_signature(meta, path, key=None):
    """Check the sidecar's HMAC-SHA256 signature with the model key, if one is set.

    Parameters
    ----------
    meta : dict
        The sidecar, as read by :func:`read_metadata`.
    path : str or Path
        The model file (for messages).
    key : str or bytes, optional
        See :func:`model_key`.

    Returns
    -------
    bool
        ``True`` when a key is set and the signature matches; ``False`` when no key is set.

    Raises
    ------
    ModelFileError
        When a key is set and the file is unsigned or signed with another key
        (or either file changed after signing).
    """
    secret, source = model_key(key)
    if secret is None:
        return False
    signature = meta.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        raise ModelFileError(
            f"{path} is not signed, and a model key is set ({source}): refusing to load it. A model file "
            "is a pickle that can run code when loaded; if this one comes from a source you trust, sign it "
            f"with the key: cnnsvm sign --model {path} --model-sha256 <its known SHA-256>"
        )
    if signature.get("algorithm") != SIGNATURE_ALGORITHM:
        raise ModelFileError(
            f"{path} is signed with {signature.get('algorithm')!r}, not {SIGNATURE_ALGORITHM}; refusing to load it"
        )
    expected = hmac.new(secret, _signed_message(meta), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature["value"].strip().lower()):
        raise ModelFileError(
            f"{path}: the signature in {sidecar_path(path).name} does not match the model key ({source}): "
            "the file was signed with another key, or it or its sidecar changed after signing; "
            "refusing to load it"
        )
    return True


def _check_pin(sha256, digest, path):
    wanted = str(sha256).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", wanted):
        raise ConfigError(f"a SHA-256 pin is 64 hexadecimal digits; got {sha256!r}")
    if not hmac.compare_digest(wanted, digest):
        raise ModelFileError(
            f"{path} has the SHA-256 {digest}, not the pinned {wanted}: it is not the file you pinned; "
            "refusing to load it"
        )


def sign_model(path, *, key=None, sha256=None):
    """Sign an existing model file's sidecar with the model key, without unpickling it.

    Sign only a file you trust (one you exported yourself, or whose SHA-256 you
    know from its author: pass it as ``sha256``).

    Parameters
    ----------
    path : str or Path
    key : str or bytes, optional
        See :func:`model_key`; a key is required.
    sha256 : str, optional
        Refuse to sign unless the payload has this SHA-256.

    Returns
    -------
    pathlib.Path
        The sidecar's path.
    """
    path = Path(path)
    secret, source = model_key(key)
    if secret is None:
        raise ConfigError(f"no model key to sign with: set {MODEL_KEY_ENV} (or pass key=)")
    meta = read_metadata(path)
    digest = _payload_digest(path, meta, path.read_bytes())
    if sha256 is not None:
        _check_pin(sha256, digest, path)
    meta.pop("signature", None)
    meta["signature"] = _signature_entry(meta, secret)
    sidecar = sidecar_path(path)
    atomic_write_bytes(sidecar, json.dumps(meta, indent=2, ensure_ascii=False).encode("utf-8"))
    return sidecar


def _payload_digest(path, meta, payload):
    """Check the payload's size and SHA-256 against the sidecar; return the hex digest."""
    expected = meta["payload"]
    if len(payload) != expected.get("bytes"):
        raise ModelFileError(
            f"{path} is {len(payload)} bytes but was saved as {expected.get('bytes')}: "
            "the file is truncated or was modified; export it again"
        )
    digest = hashlib.sha256(payload).hexdigest()
    if not hmac.compare_digest(digest, expected["sha256"].strip().lower()):
        raise ModelFileError(
            f"{path} does not match its recorded SHA-256: the file was modified or corrupted; "
            "refusing to load it (export it again from the original model)"
        )
    return digest


def read_metadata(path):
    """Read and check the sidecar of the model file ``path``; returns its metadata dict."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} not found")
    if not sidecar.exists():
        raise ModelFileError(
            f"{sidecar} is missing: cnnsvm keeps a model's checksum and versions there and will not "
            "load a model without it; copy it along with the model file, or re-export the model with cnnsvm.save"
        )
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{sidecar} is not valid JSON ({exc}); the metadata file is damaged") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{sidecar} is not a cnnsvm model description")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version!r}, newer than this cnnsvm understands "
            f"({FORMAT_VERSION}); upgrade cnnsvm to load it"
        )
    payload = meta.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("sha256"), str):
        raise ModelFileError(f"{sidecar} has no payload checksum; the metadata file is damaged")
    return meta


def _check_versions(meta, path):
    saved = meta.get("versions", {})
    current = library_versions()
    problems = []
    for lib, parts in (("scikit-learn", 2), ("keras", 1), ("cnnsvm", 1)):
        old, new = saved.get(lib), current[lib]
        if old is None or old.split(".")[:parts] != new.split(".")[:parts]:
            problems.append(f"{lib} {old} (installed: {new})")
    if problems:
        raise ModelFileError(
            f"{path} was saved with {', '.join(problems)}; install the versions it was saved with or "
            "retrain the model (load(..., check_versions=False) tries anyway, at your own risk)"
        )


def load(path, *, return_metadata=False, check_versions=True, key=None, sha256=None):
    """Load a model exported by :func:`save`, after verifying it.

    A model file is a pickle, and unpickling can run code: load only files from
    a source you trust. Every check below happens before anything is unpickled:

    - the payload's size and SHA-256 must match the sidecar. This catches
      corruption and truncation, **not** tampering: whoever can replace the model
      file can also replace its sidecar;
    - with a key (``key=`` or the environment variable ``CNNSVM_MODEL_KEY``), the
      sidecar must carry a valid HMAC-SHA256 signature made with that key over the
      payload's SHA-256 and all the metadata: unsigned files and files signed with
      another key are refused. This does catch tampering by anyone without the key;
    - with ``sha256=``, the payload must be exactly that file;
    - the library versions must be compatible with the installed ones.

    Parameters
    ----------
    path : str or Path
    return_metadata : bool, default=False
        Also return the sidecar's metadata.
    check_versions : bool, default=True
        Refuse a model saved with another scikit-learn minor version or another
        major version of Keras or cnnsvm.
    key : str or bytes, optional
        Secret key the file must be signed with; defaults to ``CNNSVM_MODEL_KEY``.
    sha256 : str, optional
        Pin: the SHA-256 (64 hex digits) the payload must have, e.g. one its author
        published. It protects the payload (the code that is unpickled), not the sidecar.

    Returns
    -------
    model, or (model, metadata)

    Raises
    ------
    ModelFileError
        If any check fails.
    """
    path = Path(path)
    meta = read_metadata(path)
    verify_signature(meta, path, key)
    payload = path.read_bytes()  # read once: what is checked is what is unpickled
    digest = _payload_digest(path, meta, payload)
    if sha256 is not None:
        _check_pin(sha256, digest, path)
    if check_versions:
        _check_versions(meta, path)
    try:
        model = joblib.load(io.BytesIO(payload))
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means an unusable file
        raise ModelFileError(f"{path} could not be unpickled ({type(exc).__name__}: {exc})") from exc
    if not hasattr(model, "predict"):
        raise ModelFileError(f"{path} does not hold a predictor")
    return (model, meta) if return_metadata else model
