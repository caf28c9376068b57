"""dcn.utils.fileio: output names that never collide."""
from dcn.utils.fileio import unique_stems


def test_unique_stems():
    assert unique_stems(["a/one.png", "b/two.jpg"]) == ["one", "two"]
    assert unique_stems(["one.png", "one.jpg", "x/one.jpg", "two"]) == ["one_png", "one_jpg", "one_jpg_2", "two"]
    names = unique_stems(["a/x.jpg", "b/x.jpg", "c/x.jpg", "x_jpg_2.png"])
    assert len(set(names)) == 4
