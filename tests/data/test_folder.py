import numpy as np
import pytest
from PIL import Image

from cnnsvm.data.folder import load_image_folder, natural_key, read_class_names_csv
from cnnsvm.exceptions import DataError

NHCD_LABELS = """Numerals,,,
,,,
Class,Label,Devanagari Label,Phonetics
0,0,०,Śūn'ya
1,1,१,ēka
2,2,२,du'ī
,,,
,,,
Vowels,,,
,,,
Class,Label,Devanagari Label,Phonetics
1,a,अ,a
2,aa,आ,ā
3,i,इ,i
,,,
,,,
Consonants,,,
,,,
Class,Label,Devanagari Label,Phonetics
1,ka,क,ka
2,kha,ख,kha
3,ga,ग,ga
4,gha,घ,gha
5,dha,ढ,ḍha
6,dha,भ,bha
"""


def _dark_char(side=10, value=0):
    """A dark stroke on a light background."""
    img = np.full((side, side), 250, np.uint8)
    img[2:-2, side // 2] = value
    return img


def _make_folder(root, classes, fmt_cycle=("png", "jpg", "bmp", "gif"), per_class=2, side=10):
    root.mkdir(parents=True, exist_ok=True)
    i = 0
    for cls in classes:
        d = root / cls
        d.mkdir()
        for k in range(per_class):
            ext = fmt_cycle[i % len(fmt_cycle)]
            fmt = {"jpg": "JPEG", "jpeg": "JPEG"}.get(ext.lower(), ext.upper())
            Image.fromarray(_dark_char(side, value=10 * k)).save(d / f"img{k}.{ext}", fmt)
            i += 1
    return root


def test_loads_classes_in_numeric_order(tmp_path):
    root = _make_folder(tmp_path / "numerals", ["10", "2", "1"])
    (root / "2" / ".DS_Store").write_bytes(b"\x00\x01junk")
    (root / "2" / "Thumbs.db").write_bytes(b"junk")
    (root / "2" / "notes.txt").write_text("not an image")
    (root / "labels.csv").write_text("x")  # top-level files are ignored
    ds = load_image_folder(root)
    assert ds.class_names == ["1", "2", "10"]
    assert ds.name == "numerals"
    assert len(ds) == 6 and ds.images.shape == (6, 10, 10) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1, 2, 2])
    assert ds.ink == "dark"
    assert ds.extra["files"][2:4] == ["2/img0.bmp", "2/img1.gif"]
    assert ds.extra["class_dirs"] == ["1", "2", "10"]


def test_uppercase_extensions_and_jpeg(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"], fmt_cycle=("PNG", "JPEG"))
    ds = load_image_folder(root, name="letters", ink="light")
    assert len(ds) == 4 and ds.name == "letters" and ds.ink == "light"


def test_mixed_sizes_are_resized_to_most_common(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"], per_class=2, side=10)
    Image.fromarray(_dark_char(20)).save(root / "b" / "big.png")
    wide = np.full((5, 10), 250, np.uint8)
    Image.fromarray(wide).save(root / "a" / "wide.png")
    ds = load_image_folder(root)
    assert ds.images.shape == (6, 10, 10)
    # the wide image is padded with its own light background, not black bars
    wide_out = ds.images[ds.extra["files"].index("a/wide.png")]
    assert wide_out.min() >= 240
    assert ds.ink == "dark"


def test_light_ink_detected(tmp_path):
    root = tmp_path / "light"
    for cls in ("x", "y"):
        (root / cls).mkdir(parents=True)
        Image.fromarray(255 - _dark_char()).save(root / cls / "a.png")
    assert load_image_folder(root).ink == "light"


def test_labels_csv_nhcd_sections(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(NHCD_LABELS, encoding="utf-8")
    vowels = _make_folder(tmp_path / "vowels", ["1", "2", "3"], per_class=1)
    assert load_image_folder(vowels, labels_csv=labels).class_names == ["a", "aa", "i"]
    numerals = _make_folder(tmp_path / "numerals", ["0", "1", "2"], per_class=1)
    assert load_image_folder(numerals, labels_csv=labels).class_names == ["0", "1", "2"]


def test_labels_csv_prefers_exact_table_and_title(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(NHCD_LABELS, encoding="utf-8")
    # folders 1..3 appear in the Vowels table (exactly) and the Consonants table (subset)
    assert read_class_names_csv(labels, ["1", "2", "3"]) == ["a", "aa", "i"]
    # folders 1..2: both tables have extra rows; the title matching the folder wins
    assert read_class_names_csv(labels, ["1", "2"], table_hint="consonants") == ["ka", "kha"]
    assert read_class_names_csv(labels, ["1", "2"], table_hint="Vowels") == ["a", "aa"]


def test_labels_csv_duplicate_display_names_get_folder(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(NHCD_LABELS, encoding="utf-8")
    names = read_class_names_csv(labels, ["1", "2", "3", "4", "5", "6"])
    assert names == ["ka", "kha", "ga", "gha", "dha (5)", "dha (6)"]


def test_labels_csv_simple_and_headerless(tmp_path):
    simple = tmp_path / "simple.csv"
    simple.write_text("folder,name,other\ncat_dir,Cat,x\ndog_dir,Dog,y\n")
    assert read_class_names_csv(simple, ["cat_dir", "dog_dir"]) == ["Cat", "Dog"]
    headerless = tmp_path / "bare.csv"
    headerless.write_text("01,one\n02,two\n")
    assert read_class_names_csv(headerless, ["1", "2"]) == ["one", "two"]


def test_labels_csv_must_name_every_folder(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("Class,Label\n1,a\n2,b\n")
    with pytest.raises(DataError, match="no column whose values include every class folder name"):
        read_class_names_csv(labels, ["1", "2", "9"])
    with pytest.raises(DataError, match="labels CSV .* does not exist"):
        read_class_names_csv(tmp_path / "none.csv", ["1"])


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "missing")


def test_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        load_image_folder(tmp_path / "empty")


def test_single_class(tmp_path):
    root = _make_folder(tmp_path / "one", ["only"])
    with pytest.raises(DataError, match="only one class sub-folder.*at least two"):
        load_image_folder(root)


def test_empty_class_folder_is_named(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"])
    (root / "c_empty").mkdir()
    (root / "c_empty" / "Thumbs.db").write_bytes(b"x")
    with pytest.raises(DataError, match="c_empty holds no images"):
        load_image_folder(root)


def test_hidden_and_macosx_folders_are_ignored(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"])
    (root / ".git").mkdir()
    (root / "__MACOSX").mkdir()
    assert load_image_folder(root).class_names == ["a", "b"]


def test_unreadable_image_is_named(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"])
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        load_image_folder(root)


def test_bad_ink_option(tmp_path):
    root = _make_folder(tmp_path / "set", ["a", "b"])
    with pytest.raises(DataError, match="ink must be one of"):
        load_image_folder(root, ink="purple")


def test_natural_key():
    names = ["10", "9", "a10", "a2", "B1", "1"]
    assert sorted(names, key=natural_key) == ["1", "9", "10", "a2", "a10", "B1"]
