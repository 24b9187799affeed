import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnnsvm.cli import main
from cnnsvm.data import load_split
from cnnsvm.pipeline import load, read_metadata, sidecar_path


@pytest.fixture(scope="module")
def pca_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "pca.joblib"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--method",
                "pca-svc",
                "--out",
                str(path),
                "--image-size",
                "8",
                "--components",
                "30",
                "--quiet",
            ]
        )
        == 0
    )
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
        code = main(
            [
                "train",
                "--data",
                "digits",
                "--method",
                method,
                "--out",
                str(out),
                "--epochs",
                "3",
                "--architecture",
                "small",
                "--image-size",
                "16",
                "--quiet",
            ]
        )
        assert code == 0 and out.exists() and sidecar_path(out).exists()
        printed = capsys.readouterr().out
        assert f"{method} on digits: test accuracy" in printed
        accuracy = float(printed.split("test accuracy ")[1].split()[0])
        # The printed accuracy is the exported model's, on the split the sidecar records
        # (a model saved before its final fit, or scored on other data, would differ).
        meta = read_metadata(out)["metadata"]
        assert accuracy == pytest.approx(meta["test_accuracy"], abs=5e-5)
        test = load_split("digits", test_size=meta["dataset"]["test_size"], random_state=meta["dataset"]["seed"]).test
        model = load(out)
        assert model.score(test.with_light_ink().images, test.labels) == pytest.approx(meta["test_accuracy"])
        assert accuracy > 0.5
    # the hybrid blends the CNN's softmax into its probabilities unless told not to
    assert load(tmp_path / "hybrid.joblib").softmax_weight_ == 0.5
    out = tmp_path / "svm-alone.joblib"
    assert (
        main(
            [
                "train",
                "--data",
                "digits",
                "--method",
                "hybrid",
                "--out",
                str(out),
                "--epochs",
                "1",
                "--architecture",
                "small",
                "--image-size",
                "16",
                "--softmax-weight",
                "0",
                "--elastic",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    svm_alone = load(out)
    assert svm_alone.softmax_weight_ == 0.0
    # --elastic reaches the network's training (and the file records it with the other parameters)
    assert {k: v for k, v in svm_alone.get_params().items() if k.endswith("__elastic")} == {"cnn__elastic": 1.0}


def test_a_softmax_weight_outside_0_1_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "digits", "--method", "hybrid", "--softmax-weight", "2", "--out", str(tmp_path / "m")])
    assert info.value.code == 2
    assert "--softmax-weight: expected 'auto' or a number between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_jobs_must_be_a_thread_count(tmp_path, capsys, jobs):
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "digits", "--method", "pca-svc", "--jobs", jobs, "--out", str(tmp_path / "m")])
    assert info.value.code == 2
    assert "--jobs: expected a number of threads >= 1, or -1 for all cores" in capsys.readouterr().err


def test_train_runs_the_calibration_folds_on_all_cores_by_default(pca_model):
    assert read_metadata(pca_model)["metadata"]["params"]["n_jobs"] == -1
    assert load(pca_model).steps[-1][1].n_jobs == -1


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
        (
            ["train", "--data", "npz:/no/such/file.npz", "--method", "pca-svc", "--out", "{tmp}/m.joblib"],
            "not found|No such|does not exist",
        ),
        (["train", "--data", "bogus:x", "--method", "pca-svc", "--out", "{tmp}/m.joblib"], "unknown"),
        (["predict", "--model", "{tmp}/missing.joblib", "x.png"], "not found"),
        (["predict", "--model", "{model}", "{tmp}/corrupt.png"], "corrupt.png"),
        (["predict", "--model", "{model}", "{tmp}/blank.png"], "blank"),
        (["evaluate", "--model", "{tampered}", "--data", "digits"], "SHA-256"),
        (["serve", "--model", "{tampered}", "--port", "0"], "SHA-256"),
        (["serve", "--model", "{model}", "--port", "0", "--allow-teach", "--teach-views", "-1"], "--teach-views"),
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
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not found" in proc.stderr


def _kaggle_frames(digits_split, n_train=600, n_test=120):
    from cnnsvm.data.preprocessing import resize_batch

    def big(images):
        return np.rint(resize_batch(images.astype(np.float32), 28)).astype(np.uint8).reshape(len(images), -1)

    columns = [f"pixel{i}" for i in range(784)]
    train = pd.DataFrame(big(digits_split.train.images[:n_train]), columns=columns)
    train.insert(0, "label", digits_split.train.labels[:n_train])
    test = pd.DataFrame(big(digits_split.test.images[:n_test]), columns=columns)
    return train, test


def test_predict_on_a_kaggle_csv_of_the_trained_size_is_exactly_model_predict(tmp_path, digits_split, capsys):
    from cnnsvm.data import read_kaggle_test
    from cnnsvm.pipeline import load

    train, test = _kaggle_frames(digits_split)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    model_path = tmp_path / "kaggle.joblib"
    assert (
        main(
            [
                "train",
                "--data",
                f"csv:{tmp_path / 'train.csv'}",
                "--method",
                "pca-svc",
                "--out",
                str(model_path),
                "--components",
                "30",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_path),
                str(tmp_path / "test.csv"),
                "--submission",
                str(tmp_path / "submission.csv"),
            ]
        )
        == 0
    )
    written = pd.read_csv(tmp_path / "submission.csv")["Label"].to_numpy()
    expected = load(model_path).predict(read_kaggle_test(tmp_path / "test.csv"))
    assert np.array_equal(written, expected)  # no crop, no re-framing: 100 %, not "80 % agreement"
    assert "cropped" not in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(model_path),
                str(tmp_path / "test.csv"),
                "--reject-threshold",
                "0.5",
                "--submission",
                str(tmp_path / "other.csv"),
            ]
        )
        == 2
    )
    assert "needs a digit for every image" in capsys.readouterr().err


def test_rejected_answers_carry_no_class(pca_model, tmp_path, digits_split, capsys):
    path = str(_digit_png(tmp_path / "d.png", digits_split.test.images[0]))
    assert main(["predict", "--model", str(pca_model), "--json", "--reject-threshold", "1.0", path]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["rejected"] is True and row["label"] is None and row["class_name"] is None
    assert main(["predict", "--model", str(pca_model), "--reject-threshold", "1.0", path]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.split("\t")[1] == "-" and "rejected; best guess" in line


def _renamed_digits(tmp_path, names, order=None):
    """The digits under other class names, or (``order``) the same names at other class indices."""
    from cnnsvm.data.sklearn_digits import load_digits_dataset

    digits = load_digits_dataset()
    labels = digits.labels if order is None else np.asarray(order)[digits.labels]
    path = tmp_path / f"renamed-{len(list(tmp_path.iterdir()))}.npz"
    np.savez(path, x=digits.images, y=labels, class_names=np.array(names))
    return f"npz:{path}"


def test_evaluate_refuses_a_set_with_other_class_names(pca_model, tmp_path, capsys):
    other = _renamed_digits(tmp_path, list("abcdefghij"))
    assert main(["evaluate", "--model", str(pca_model), "--data", other]) == 2
    err = capsys.readouterr().err
    assert "names its classes differently from the model: class 0 is 'a' in the data but '0'" in err
    assert "--classes by-index" in err and "Traceback" not in err
    assert main(["evaluate", "--model", str(pca_model), "--data", other, "--classes", "by-index"]) == 0
    captured = capsys.readouterr()
    assert "warning: the data names its classes differently" in captured.err and "accuracy: 0.9" in captured.out
    # the same classes in another order: refused by default, matched with --classes by-name
    order = [1, 0, 2, 3, 4, 5, 6, 7, 8, 9]  # digit 0 is class 1, digit 1 class 0
    permuted = _renamed_digits(tmp_path, [str(d) for d in order], order)
    assert main(["evaluate", "--model", str(pca_model), "--data", permuted]) == 2
    assert "--classes by-name" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(pca_model), "--data", permuted, "--classes", "by-index"]) == 0
    by_index = float(re.search(r"accuracy: ([\d.]+)", capsys.readouterr().out).group(1))
    assert main(["evaluate", "--model", str(pca_model), "--data", permuted, "--classes", "by-name"]) == 0
    by_name = float(re.search(r"accuracy: ([\d.]+)", capsys.readouterr().out).group(1))
    assert by_name > 0.9 and by_index < by_name - 0.1


def test_model_key_and_pin_on_the_command_line(pca_model, tmp_path, monkeypatch, capsys):
    import hashlib
    import shutil

    model = tmp_path / "copy.joblib"
    shutil.copy(pca_model, model)
    shutil.copy(sidecar_path(pca_model), sidecar_path(model))
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert main(["evaluate", "--model", str(model), "--data", "digits", "--model-sha256", "0" * 64]) == 2
    assert "not the pinned" in capsys.readouterr().err
    monkeypatch.setenv("CNNSVM_MODEL_KEY", "my key")
    assert main(["evaluate", "--model", str(model), "--data", "digits"]) == 2
    err = capsys.readouterr().err
    assert "is not signed" in err and "cnnsvm sign" in err and "Traceback" not in err
    assert main(["sign", "--model", str(model), "--model-sha256", digest]) == 0
    assert main(["evaluate", "--model", str(model), "--data", "digits", "--model-sha256", digest]) == 0
    capsys.readouterr()
    monkeypatch.setenv("CNNSVM_MODEL_KEY", "someone else's key")
    assert main(["predict", "--model", str(model), "x.png"]) == 2
    assert "does not match the model key" in capsys.readouterr().err


def test_quiet_start_drops_tensorflow_log_lines_but_not_cnnsvm_messages(pca_model, tmp_path):
    import os

    other = _renamed_digits(tmp_path, list("abcdefghij"))
    command = [
        sys.executable,
        "-m",
        "cnnsvm.cli",
        "evaluate",
        "--model",
        str(pca_model),
        "--data",
        other,
        "--classes",
        "by-index",
    ]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "warning: the data names its classes differently" in quiet.stderr  # cnnsvm's own warning stays
    assert not re.search(r"^[IWE]\d{4} |absl::InitializeLog|cuInit", quiet.stderr, re.MULTILINE), quiet.stderr
    # a level the user set is left alone: TensorFlow speaks again
    loud = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}
    )
    assert loud.returncode == 0 and re.search(r"^I\d{4} ", loud.stderr, re.MULTILINE), loud.stderr


def test_stderr_filter_passes_everything_but_tensorflow_log_lines():
    from cnnsvm._quiet import NOISE

    noise = [
        b"I0000 00:00:1795274598.005101    3754 port.cc:153] oneDNN custom operations are on.\n",
        b"W0000 00:00:1.5  12 cuda_dnn.cc:8] something\n",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        b"appropriate compiler flags.\n",
    ]
    kept = [
        b"cnnsvm evaluate: warning: the data names its classes differently\n",
        b"Traceback (most recent call last):\n",
        b"I like this line\n",
        b"E0000 00:00:1.5  12 real_error.cc:1] kept: errors obey the log level\n",
    ]
    assert all(NOISE.match(line) for line in noise)
    assert not any(NOISE.match(line) for line in kept)


# ------------------------------------------------------------- generic extractor, reuse, few-shot
def _npz_spec(path, images, labels, name):
    np.savez(path, x=images, y=labels)
    return f"npz:{path}?name={name}&ink=light"


@pytest.fixture(scope="module")
def extractor_file(tmp_path_factory):
    """An extractor trained by the CLI on digits 0-4 (8x8) and synthetic bars (12x12); digits 5-9 unseen."""
    from cnnsvm.data.sklearn_digits import load_digits_dataset
    from tests.conftest import blobs_images

    folder = tmp_path_factory.mktemp("extractor")
    digits = load_digits_dataset()
    low = digits.labels < 5
    specs = {
        "low": _npz_spec(folder / "low.npz", digits.images[low], digits.labels[low], "low"),
        "high": _npz_spec(folder / "high.npz", digits.images[~low], digits.labels[~low] - 5, "high"),
        "bars": _npz_spec(folder / "bars.npz", *blobs_images(n_per_class=30, n_classes=3, size=12), "bars"),
    }
    out = folder / "generic.joblib"
    code = main(
        [
            "train-extractor",
            "--data",
            specs["low"],
            "--data",
            specs["bars"],
            "--out",
            str(out),
            "--epochs",
            "6",
            "--architecture",
            "small",
            "--image-size",
            "16",
            "--batch-size",
            "64",
        ]
    )
    assert code == 0
    return out, specs


def test_train_extractor_records_the_sets_it_saw(extractor_file, capsys):
    out, _ = extractor_file
    meta = read_metadata(out)
    record = meta["metadata"]["extractor"]
    assert meta["metadata"]["kind"] == "extractor"
    assert [d["name"] for d in record["datasets"]] == ["low", "bars"]
    assert [d["image_shape"] for d in record["datasets"]] == [[8, 8], [12, 12]]
    assert record["datasets"][1]["n_train"] == 72  # 80 % of 90: the test part is never trained on
    assert record["image_size"] == 16 and meta["input"]["model_size"] == 16
    assert len(meta["class_names"]) == 8 and meta["class_names"][5] == "bars/0"
    code = main(["train-extractor", "--data", "digits", "--out", str(out), "--epochs", "1"])
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_train_with_an_extractor_fits_the_svm_on_a_new_set(extractor_file, tmp_path, capsys):
    extractor, specs = extractor_file
    out = tmp_path / "high.joblib"
    assert (
        main(
            [
                "train",
                "--method",
                "hybrid",
                "--extractor",
                str(extractor),
                "--data",
                specs["high"],
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert float(printed.split("test accuracy ")[1].split()[0]) > 0.6
    meta = read_metadata(out)
    assert meta["metadata"]["extractor"]["trained_on"] == ["low", "bars"]
    assert meta["metadata"]["extractor"]["seen_data"] == []
    assert meta["input"]["model_size"] == 16
    assert load(out).get_params()["svm__calibration_split"] == "auto"  # a new set: held out from 5,000 images


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "LOW"], "trained on the set being learned"),
        (["--data", "HIGH", "--image-size", "28"], "takes 16x16 images, not --image-size 28"),
        (["--data", "HIGH", "--method", "cnn"], "does not apply to --method cnn"),
    ],
)
def test_train_with_an_extractor_refuses_what_does_not_fit(extractor_file, tmp_path, capsys, extra, message):
    extractor, specs = extractor_file
    argv = [
        "train",
        "--method",
        "hybrid",
        "--extractor",
        str(extractor),
        "--out",
        str(tmp_path / "m.joblib"),
        "--quiet",
    ]
    argv += [{"LOW": specs["low"], "HIGH": specs["high"]}.get(a, a) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_train_with_an_extractor_reads_its_spatial_features_when_asked(extractor_file, tmp_path, capsys):
    from cnnsvm.persistence import load

    extractor, specs = extractor_file
    out = tmp_path / "high.joblib"
    argv = ["train", "--method", "hybrid", "--data", specs["high"], "--out", str(out), "--quiet"]
    assert main(argv + ["--extractor", str(extractor), "--features", "spatial"]) == 0
    model = load(out)
    assert model.named_steps["cnn"].features == "spatial"
    # the small network at 16x16: a 32-unit embedding, then 8 and 16 channels on 2x2 cells
    assert model[:2].transform(np.zeros((1, 8, 8), np.uint8)).shape[1] == 32 + 8 * 4 + 16 * 4
    assert read_metadata(out)["metadata"]["params"]["features"] == "spatial"
    argv[argv.index(str(out))] = str(tmp_path / "other.joblib")
    assert main(argv + ["--features", "spatial"]) == 2
    err = capsys.readouterr().err
    assert "give it with --extractor" in err and "Traceback" not in err


def test_the_features_choices_of_the_command_line_are_the_library_s():
    from cnnsvm.cli import build_parser
    from cnnsvm.features.spatial import FEATURES

    sub = next(a for a in build_parser()._actions if a.choices and "fewshot" in a.choices).choices
    for command in ("train", "fewshot"):
        (action,) = [a for a in sub[command]._actions if a.dest == "features"]
        assert tuple(action.choices) == FEATURES


def test_fewshot_refuses_negative_views_before_loading_anything(tmp_path, capsys):
    argv = ["fewshot", "--extractor", str(tmp_path / "none.joblib"), "--data", "digits", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as stop:
        main(argv + ["--views", "-1"])
    assert stop.value.code == 2 and "expected a whole number of at least 0" in capsys.readouterr().err


def test_train_with_an_extractor_can_be_told_to_go_on_and_says_so(extractor_file, tmp_path, capsys):
    extractor, specs = extractor_file
    out = tmp_path / "low.joblib"
    assert (
        main(
            [
                "train",
                "--method",
                "hybrid",
                "--extractor",
                str(extractor),
                "--data",
                specs["low"],
                "--out",
                str(out),
                "--quiet",
                "--allow-seen-data",
            ]
        )
        == 0
    )
    assert "warning: the extractor has seen this set" in capsys.readouterr().err
    assert read_metadata(out)["metadata"]["extractor"]["seen_data"]


def test_train_with_two_extractors_reads_them_as_an_ensemble(extractor_file, tmp_path, capsys):
    from cnnsvm.features import ExtractorEnsemble
    from cnnsvm.features.views import unwrap_extractor

    extractor, specs = extractor_file
    second = tmp_path / "generic-seed1.joblib"
    argv = ["train-extractor", "--data", specs["low"], "--data", specs["bars"], "--out", str(second), "--quiet"]
    argv += ["--epochs", "6", "--architecture", "small", "--image-size", "16", "--batch-size", "64", "--seed", "1"]
    assert main(argv) == 0
    out = tmp_path / "high.joblib"
    train = ["train", "--method", "hybrid", "--data", specs["high"], "--quiet"]
    assert main(train + ["--extractor", str(extractor), "--extractor", str(second), "--out", str(out)]) == 0
    assert float(capsys.readouterr().out.split("test accuracy ")[1].split()[0]) > 0.6
    ensemble = unwrap_extractor(load(out).named_steps["cnn"])
    assert isinstance(ensemble, ExtractorEnsemble) and len(ensemble.extractors) == 2
    record = read_metadata(out)["metadata"]["extractor"]
    assert [m["file"] for m in record["members"]] == [extractor.name, second.name]
    assert record["trained_on"] == ["low", "bars"] and record["seen_data"] == []
    # one digest per file, and members trained on the same sets
    bad = train + ["--extractor", str(extractor), "--extractor", str(second), "--extractor-sha256", "0" * 64]
    assert main(bad + ["--out", str(tmp_path / "a.joblib")]) == 2
    assert "got 1 --extractor-sha256 for 2 --extractor" in capsys.readouterr().err
    other = tmp_path / "generic-low.joblib"
    argv = ["train-extractor", "--data", specs["low"], "--out", str(other), "--quiet", "--epochs", "1"]
    assert main(argv + ["--architecture", "small", "--image-size", "16"]) == 0
    assert (
        main(train + ["--extractor", str(extractor), "--extractor", str(other), "--out", str(tmp_path / "b.joblib")])
        == 2
    )
    err = capsys.readouterr().err
    assert "trained on other classes" in err and "Traceback" not in err


def test_train_extractor_bad_spec_is_one_line(tmp_path, capsys):
    code = main(["train-extractor", "--data", "digits", "--data", "nosuchkind:x", "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown dataset kind 'nosuchkind'" in err and "Traceback" not in err


def test_fewshot_command_writes_table_and_plot(extractor_file, tmp_path, capsys):
    extractor, specs = extractor_file
    out = tmp_path / "curve"
    assert (
        main(
            [
                "fewshot",
                "--extractor",
                str(extractor),
                "--data",
                specs["high"],
                "--out",
                str(out),
                "--k",
                "2,all",
                "--draws",
                "2",
                "--methods",
                "hybrid,pca-svc",
                "--quiet",
            ]
        )
        == 0
    )
    text = (out / "fewshot.md").read_text()
    assert "trained on the training parts of: low" in text and "bars" in text
    assert "| 2 | 2 |" in text and (out / "fewshot.png").exists()
    assert "its SVM sees the extractor's embedding and its last convolutional blocks'" in text
    assert "9 random augmented views" in text
    assert "| k per class |" in capsys.readouterr().out
    run = json.loads((out / "fewshot.json").read_text())["environment"]
    assert {"scikit-learn", "tensorflow"} <= set(run["versions"]) and "cwd" not in run
    assert f"scikit-learn {run['versions']['scikit-learn']}" in text
    assert (
        main(
            [
                "fewshot",
                "--extractor",
                str(extractor),
                "--data",
                specs["low"],
                "--out",
                str(tmp_path / "x"),
                "--k",
                "2",
                "--methods",
                "hybrid",
                "--quiet",
            ]
        )
        == 2
    )
    assert "--allow-seen-data" in capsys.readouterr().err
