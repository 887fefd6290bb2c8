"""The digit classifier and the class-conditional accuracy (grader/metrics/digit_accuracy.py).

The classifier trains once per session (a few seconds on one CPU thread) into a shared cache; the samples
are tiny sets of real held-out digits (3 per class).
"""

from __future__ import annotations

import pytest
import torch

import grader.metrics.digit_accuracy as digit_accuracy
from grader.metrics import MetricRefused, MetricUnavailable
from grader.metrics.digit_accuracy import (
    ConditionalSamplesRefused,
    DigitNet,
    calibration,
    classifier_key,
    conditional_accuracy,
    digit_classifier,
    held_out_mask,
    real_digits,
)
from tests.support.digit_samples import SIZE, held_out_digits, shared_classifier_cache, write_class_folders


@pytest.fixture(autouse=True)
def isolated_fid_cache(tmp_path_factory, monkeypatch):
    """Replaces the folder's per-test cache: the classifier's weights are shared by the session."""
    monkeypatch.setenv("DIFFUSION_HW_CACHE", str(shared_classifier_cache(tmp_path_factory)))


@pytest.fixture(scope="session")
def classifier(tmp_path_factory):
    return digit_classifier(SIZE, cache_dir=shared_classifier_cache(tmp_path_factory) / "digit-classifier")


@pytest.fixture(scope="session")
def samples():
    return held_out_digits()


def state(network) -> dict:
    return {name: tensor.clone() for name, tensor in network.state_dict().items()}


# ---------------------------------------------------------------------------- the classifier and its cache


def test_a_cache_hit_returns_identical_weights_and_accuracies_without_training(classifier, samples, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained again although the weights are cached")

    monkeypatch.setattr(digit_accuracy, "train_network", no_training)
    again = digit_classifier(SIZE)  # from $DIFFUSION_HW_CACHE, the same folder as the fixture's
    assert again.key == classifier.key and again.held_out_accuracy == classifier.held_out_accuracy
    before, after = state(classifier.network), state(again.network)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    images, labels = samples
    assert conditional_accuracy(images, labels, classifier=again) == conditional_accuracy(images, labels,
                                                                                        classifier=classifier)


def test_the_cache_key_changes_with_everything_that_changes_the_weights(monkeypatch):
    images, labels = real_digits(SIZE)
    train = images[~held_out_mask(labels)]
    key = classifier_key(train, SIZE)
    assert classifier_key(train.clone(), SIZE) == key  # a key of the contents, not of the object
    one_pixel = train.clone()
    one_pixel[0, :, 0, 0] += 1
    assert classifier_key(one_pixel, SIZE) != key
    assert classifier_key(train, SIZE + 1) != key
    assert classifier_key(train[:-1], SIZE) != key
    monkeypatch.setattr(digit_accuracy, "SEED", digit_accuracy.SEED + 1)
    assert classifier_key(train, SIZE) != key
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "1.13.1")
    assert classifier_key(train, SIZE) != key
    monkeypatch.undo()
    monkeypatch.setattr(digit_accuracy, "WORKING_SIZE", 12)  # a change of architecture shows in repr(DigitNet())
    assert classifier_key(train, SIZE) != key


def test_an_unreadable_cache_entry_warns_and_is_replaced(classifier, tmp_path, monkeypatch):
    folder = tmp_path / "digit-classifier"
    folder.mkdir()
    (folder / f"classifier-{classifier.key}.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setattr(digit_accuracy, "train_network", lambda *args: classifier.network)  # no need to retrain
    with pytest.warns(UserWarning, match="ignoring unreadable digit classifier cache file"):
        rebuilt = digit_classifier(SIZE, cache_dir=folder)
    assert rebuilt.held_out_accuracy == classifier.held_out_accuracy
    assert torch.load(folder / f"classifier-{classifier.key}.pt", weights_only=True)["key"] == classifier.key


def test_cached_weights_that_fail_on_real_digits_are_retrained(classifier, tmp_path, monkeypatch):
    entry = tmp_path / f"classifier-{classifier.key}.pt"
    torch.save({"format": digit_accuracy.CACHE_FORMAT, "key": classifier.key, "state_dict": DigitNet().state_dict()},
               entry)  # the right key, untrained weights
    monkeypatch.setattr(digit_accuracy, "train_network", lambda *args: classifier.network)
    with pytest.warns(UserWarning, match=r"\(held-out accuracy 0.\d+ < 0.9\); recomputing it"):
        rebuilt = digit_classifier(SIZE, cache_dir=tmp_path)
    assert rebuilt.held_out_accuracy == classifier.held_out_accuracy > 0.9


def test_a_classifier_that_fails_on_real_digits_is_unavailable_not_a_score(tmp_path, monkeypatch):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        untrained = DigitNet().eval()
    monkeypatch.setattr(digit_accuracy, "train_network", lambda *args: untrained)
    with pytest.raises(MetricUnavailable, match=r"on held-out real digits .*\(pip install -r requirements.txt\)"):
        digit_classifier(SIZE, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing cached


@pytest.mark.slow
def test_training_is_deterministic(tmp_path):
    first = digit_classifier(SIZE, use_cache=False)
    second = digit_classifier(SIZE, use_cache=False)
    a, b = state(first.network), state(second.network)
    assert all(torch.equal(a[k], b[k]) for k in a) and first.held_out_accuracy == second.held_out_accuracy


# ---------------------------------------------------------------------------- accuracy and calibration


def test_real_held_out_digits_score_high_and_shuffled_labels_near_chance(classifier):
    result = calibration(SIZE)
    assert result["held_out"]["accuracy"] > 0.9 and min(result["held_out"]["per_class"]) > 0.6, result
    assert result["shuffled_labels"]["accuracy"] < 0.2, result
    assert result["held_out_digits"] == int(held_out_mask(real_digits(SIZE)[1]).sum())


def test_accuracy_is_reported_per_class_and_as_the_mean_of_the_classes(classifier, samples):
    images, labels = samples
    predicted = classifier.predict(images)
    right = conditional_accuracy(images, labels, classifier=classifier)
    assert right.counts == (3,) * 10 and right.n == 30 and right.image_size == SIZE
    assert right.correct == tuple(int(((labels == c) & (predicted == c)).sum()) for c in range(10))
    assert right.accuracy > 0.8 and right.accuracy == pytest.approx(sum(right.correct) / 30)
    wrong = labels.clone()
    moved = (labels == 3).nonzero().flatten()[1:]  # two of the three 3s handed in as 8s
    wrong[moved] = 8
    result = conditional_accuracy(images, wrong, classifier=classifier)
    assert (result.counts[3], result.counts[8]) == (1, 5)
    assert result.correct[8] == right.correct[8] + int((predicted[moved] == 8).sum())
    assert result.per_class[8] == pytest.approx(result.correct[8] / 5)
    assert result.accuracy == pytest.approx(sum(result.per_class) / 10)  # each digit weighs the same
    assert result.accuracy < right.accuracy
    assert result.table().startswith(f"0: {right.correct[0]}/3, 1: ") and f"8: {result.correct[8]}/5" in result.table()


def test_a_folder_of_class_folders_scores_as_its_tensor(classifier, samples, tmp_path):
    images, labels = samples
    folder = write_class_folders(tmp_path / "samples", images, labels)
    (folder / "0" / ".DS_Store").write_bytes(b"\0")  # hidden files are skipped
    assert conditional_accuracy(folder, classifier=classifier) == conditional_accuracy(images, labels,
                                                                                     classifier=classifier)
    grey_float = images[:, :1].float() / 255  # (N, 1, S, S) floats in [0, 1]: the same images
    assert conditional_accuracy(grey_float, labels, classifier=classifier) == conditional_accuracy(
        images, labels, classifier=classifier)


# ---------------------------------------------------------------------------- bad input


def _missing_class(root, images, labels):
    write_class_folders(root, images, labels)
    for file in (root / "7").iterdir():
        file.unlink()
    (root / "7").rmdir()


def _empty_class(root, images, labels):
    write_class_folders(root, images, labels)
    for file in (root / "4").iterdir():
        file.unlink()


def _text_file(root, images, labels):
    write_class_folders(root, images, labels)
    (root / "2" / "notes.txt").write_text("my best samples")


def _stray_file(root, images, labels):
    write_class_folders(root, images, labels)
    (root / "grid.png").write_bytes((root / "0" / "0000.png").read_bytes())


def _stray_folder(root, images, labels):
    write_class_folders(root, images, labels)
    (root / "cats").mkdir()


def _nested_folder(root, images, labels):
    write_class_folders(root, images, labels)
    (root / "5" / "more").mkdir()


def _unreadable(root, images, labels):
    write_class_folders(root, images, labels)
    (root / "6" / "0000.png").write_bytes(b"not a png")


def _wrong_size(root, images, labels):
    write_class_folders(root, torch.nn.functional.interpolate(images.float(), size=32).to(torch.uint8), labels)


@pytest.mark.parametrize("make, problem", [
    (lambda root, *_: None, "does not exist or is not a folder"),
    (_missing_class, "has no class folder 7/"),
    (_empty_class, "the class folder 4/ is empty"),
    (_text_file, "2/notes.txt is not an image (.bmp"),
    (_stray_file, "holds the file 'grid.png', which is not a class folder"),
    (_stray_folder, "holds the folder 'cats', which is not a class folder"),
    (_nested_folder, "5/more is not an image file (a folder or a link)"),
    (_unreadable, "6/0000.png is not a readable image (UnidentifiedImageError)"),
    (_wrong_size, "the samples are 32x32 but must be 16x16"),
])
def test_a_bad_folder_is_refused_in_one_line_saying_what_to_hand_in(tmp_path, samples, make, problem):
    root = tmp_path / "samples"
    make(root, *samples)
    with pytest.raises(ConditionalSamplesRefused) as caught:
        conditional_accuracy(root, image_size=SIZE)
    message = str(caught.value)
    assert problem in message and "\n" not in message, message
    assert message.endswith("hand in one folder per digit, 0/ to 9/, each holding only that digit's 16x16 PNG samples")
    assert isinstance(caught.value, MetricRefused)


def _nan(images, labels):
    floats = images.float() / 255
    floats[0, 0, 0, 0] = float("nan")
    return floats, labels


@pytest.mark.parametrize("change, problem", [
    (_nan, "contains NaN or infinite values"),
    (lambda images, labels: (images.float(), labels), "values in [0, 255] but floats must lie in [0, 1]"),
    (lambda images, labels: (images, None), "the samples came without labels"),
    (lambda images, labels: (images, labels[:-1]), "the labels are torch.int64 of shape (29,), not 30 integers"),
    (lambda images, labels: (images, labels.float()), "the labels are torch.float32 of shape (30,)"),
    (lambda images, labels: (images, torch.where(labels == 9, 10, labels)), "the labels hold [10], outside 0..9"),
    (lambda images, labels: (images, torch.where(labels == 9, 1, labels)), "no sample is labelled 9"),
    (lambda images, labels: (images[:, :, :, :15], labels), "the samples are 15x16 but must be 16x16"),
    (lambda images, labels: (images[0], labels), "add the batch dimension"),
])
def test_a_bad_tensor_is_refused_in_one_line(samples, change, problem):
    images, labels = change(*samples)
    with pytest.raises(ConditionalSamplesRefused) as caught:
        conditional_accuracy(images, labels, image_size=SIZE)
    assert problem in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
