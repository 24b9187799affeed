import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnnsvm.cli import main
from cnnsvm.pipeline import read_metadata, sidecar_path


@pytest.fixture(scope="module")
def pca_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "pca.joblib"
    assert main(["train", "--data", "digits", "--method", "pca-svc", "--out", str(path),
                 "--image-size", "8", "--components", "30", "--quiet"]) == 0
    return path


def _digit_png(path, image8, scale=12, dark_on_light=True):
    big = np.kron(image8.astype(float), np.ones((scale, scale)))
    big = np.pad(big, scale * 2)  # extra margin, as a drawing would have
    if dark_on_light:
        big = 255 - big
    Image.fromarray(big.astype(np.uint8)).save(path)
    return path


def test_train_records_the_run(pca_model, capsys):
    meta = read_metadata(pca_model)
    assert meta["method"] == "pca-svc"
    assert meta["metadata"]["dataset"]["spec"] == "digits"
    assert meta["metadata"]["test_accuracy"] > 0.95
    assert meta["class_names"] == [str(i) for i in range(10)]


def test_train_hybrid_and_cnn_end_to_end(tmp_path, capsys):
    for method in ("hybrid", "cnn"):
        out = tmp_path / f"{method}.joblib"
        code = main(["train", "--data", "digits", "--method", method, "--out", str(out), "--epochs", "3",
                     "--architecture", "small", "--image-size", "16", "--quiet"])
        assert code == 0 and out.exists() and sidecar_path(out).exists()
        printed = capsys.readouterr().out
        assert f"{method} on digits: test accuracy" in printed
        accuracy = float(printed.split("test accuracy ")[1].split()[0])
        assert accuracy > 0.5


def test_evaluate_prints_report_and_confusion(pca_model, capsys):
    assert main(["evaluate", "--model", str(pca_model), "--data", "digits", "--reject-threshold", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 0.9" in out
    assert "precision" in out and "confusion matrix" in out
    assert "reject threshold 0.8: rejected" in out


def test_predict_image_files_of_any_size_and_polarity(pca_model, tmp_path, digits_split, capsys):
    test = digits_split.test
    paths = []
    for i in range(10):
        dark = i % 2 == 0
        paths.append(str(_digit_png(tmp_path / f"d{i}.png", test.images[i], dark_on_light=dark)))
    assert main(["predict", "--model", str(pca_model), "--json", "--top-k", "3", *paths]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == paths
    predicted = np.array([r["label"] for r in rows])
    assert (predicted == test.labels[:10]).mean() >= 0.8
    assert all(len(r["top"]) == 3 and r["top"][0]["probability"] >= r["top"][1]["probability"] for r in rows)


def test_predict_kaggle_csv_writes_a_submission_without_overwriting(pca_model, tmp_path, digits_split, capsys):
    from cnnsvm.data.preprocessing import resize_batch

    images = np.rint(resize_batch(digits_split.test.images[:20].astype(np.float32), 28)).astype(np.uint8)
    csv = tmp_path / "test.csv"
    pd.DataFrame(images.reshape(20, -1), columns=[f"pixel{i}" for i in range(784)]).to_csv(csv, index=False)
    sub = tmp_path / "submission.csv"
    assert main(["predict", "--model", str(pca_model), str(csv), "--submission", str(sub)]) == 0
    written = pd.read_csv(sub)
    assert list(written.columns) == ["ImageId", "Label"]
    assert written["ImageId"].tolist() == list(range(1, 21))
    assert (written["Label"].to_numpy() == digits_split.test.labels[:20]).mean() >= 0.8
    before = sub.read_bytes()
    assert main(["predict", "--model", str(pca_model), str(csv), "--submission", str(sub)]) == 2
    assert re.search("overwrite|--force", capsys.readouterr().err)
    assert sub.read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--data", "npz:/no/such/file.npz", "--method", "pca-svc", "--out", "{tmp}/m.joblib"], "not found|No such|does not exist"),
        (["train", "--data", "bogus:x", "--method", "pca-svc", "--out", "{tmp}/m.joblib"], "unknown"),
        (["predict", "--model", "{tmp}/missing.joblib", "x.png"], "not found"),
        (["predict", "--model", "{model}", "{tmp}/corrupt.png"], "corrupt.png"),
        (["predict", "--model", "{model}", "{tmp}/blank.png"], "blank"),
        (["evaluate", "--model", "{tampered}", "--data", "digits"], "SHA-256"),
        (["serve", "--model", "{tampered}", "--port", "0"], "SHA-256"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(argv, message, pca_model, tmp_path, capsys):
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.fromarray(np.full((30, 30), 255, np.uint8)).save(tmp_path / "blank.png")
    tampered = tmp_path / "t.joblib"
    tampered.write_bytes(pca_model.read_bytes()[:-1] + b"\x00")
    sidecar_path(tampered).write_text(sidecar_path(pca_model).read_text())
    argv = [a.format(tmp=tmp_path, model=pca_model, tampered=tampered) for a in argv]
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("cnnsvm ")]
    assert len(errors) == 1 and "Traceback" not in stderr
    assert re.search(message, errors[0])


def test_train_refuses_to_overwrite_without_force(pca_model, capsys):
    before = pca_model.read_bytes()
    assert main(["train", "--data", "digits", "--method", "pca-svc", "--out", str(pca_model), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err
    assert pca_model.read_bytes() == before


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cnnsvm.cli", "predict", "--model", str(tmp_path / "none.joblib"), "a.png"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not found" in proc.stderr
