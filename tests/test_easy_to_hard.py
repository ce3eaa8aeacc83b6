"""Easy-to-hard sample selection on small synthetic features."""
import numpy as np
import pytest

from lore_bench.benchmarks.sampling.difficulty import (
    centroid_distance, herding_order, select_easy, select_hard,
)


def _brute_force_herding(x):
    """iCaRL's definition, literally: greedy choice of the sample that keeps the
    running mean closest to the class mean."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    mu, chosen = x.mean(0), []
    for k in range(1, len(x) + 1):
        rest = [i for i in range(len(x)) if i not in chosen]
        dist = [np.linalg.norm(mu - (x[chosen].sum(0) + x[i]) / k) for i in rest]
        chosen.append(rest[int(np.argmin(dist))])
    return np.array(chosen)


def _clusters(rng, n_classes=3, per_class=12, dim=8, outliers=3):
    """Each class: a tight cluster plus a few far-off samples (the last ones)."""
    centres = rng.normal(size=(n_classes, dim)) * 3
    feats, labels, is_outlier = [], [], []
    for c in range(n_classes):
        for i in range(per_class):
            far = i >= per_class - outliers
            feats.append(centres[c] + rng.normal(size=dim) * (2.0 if far else 0.1))
            labels.append(c)
            is_outlier.append(far)
    return np.array(feats), np.array(labels), np.array(is_outlier)


def test_herding_matches_definition_and_is_a_permutation():
    x = np.random.default_rng(0).normal(size=(15, 6))
    order = herding_order(x)
    assert sorted(order) == list(range(15))
    assert order.tolist() == _brute_force_herding(x).tolist()


def test_easy_takes_first_n_in_herding_order_per_class():
    feats, labels, outlier = _clusters(np.random.default_rng(1))
    chosen = select_easy(feats, labels, 4)
    assert len(chosen) == 12 and np.bincount(labels[chosen]).tolist() == [4, 4, 4]
    assert not outlier[chosen].any()  # typical samples first
    for c in range(3):
        members = np.flatnonzero(labels == c)
        assert chosen[labels[chosen] == c].tolist() == members[herding_order(feats[members])[:4]].tolist()


def test_easy_small_class_gives_all():
    feats = np.random.default_rng(2).normal(size=(5, 4))
    assert sorted(select_easy(feats, [0, 0, 1, 1, 1], 3).tolist()) == [0, 1, 2, 3, 4]


def test_hard_only_misclassified_latest_rank_first():
    feats, labels, outlier = _clusters(np.random.default_rng(3))
    predictions = labels.copy()
    wrong = np.flatnonzero(labels == 0)[[0, 1, 9, 10, 11]]  # two typical, three outliers
    predictions[wrong] = 1
    chosen = select_hard(feats, labels, predictions, 3)
    assert set(chosen.tolist()) == set(wrong[2:].tolist())  # class 0: the 3 outliers; classes 1, 2: none wrong
    members = np.flatnonzero(labels == 0)
    rank = {int(members[p]): r for r, p in enumerate(herding_order(feats[members]))}
    assert [rank[i] for i in chosen] == sorted((rank[i] for i in chosen), reverse=True)


def test_hard_fewer_when_not_enough_misclassified():
    feats, labels, _ = _clusters(np.random.default_rng(4))
    predictions = labels.copy()
    predictions[[0, 13]] = 2
    chosen = select_hard(feats, labels, predictions, 8)
    assert sorted(chosen.tolist()) == [0, 13]
    assert select_hard(feats, labels, labels, 8).size == 0


def test_centroid_distance_rule():
    feats, labels, outlier = _clusters(np.random.default_rng(5))
    members = np.flatnonzero(labels == 1)
    d = centroid_distance(feats[members])
    assert d[outlier[members]].min() > d[~outlier[members]].max()
    predictions = np.where(labels == 1, 0, labels)  # all of class 1 wrong
    hard = select_hard(feats, labels, predictions, 3, rule="centroid_distance")
    assert outlier[hard].all() and len(hard) == 3
    easy = select_easy(feats, labels, 4, rule="centroid_distance")
    assert not outlier[easy].any()
    with pytest.raises(ValueError, match="herding"):
        select_easy(feats, labels, 4, rule="random")


def test_selection_follows_samples_not_positions():
    """Shuffling the samples selects the same samples (no dependence on order)."""
    feats, labels, _ = _clusters(np.random.default_rng(6))
    perm = np.random.default_rng(7).permutation(len(labels))
    direct = set(select_easy(feats, labels, 5).tolist())
    shuffled = set(perm[select_easy(feats[perm], labels[perm], 5)].tolist())
    assert direct == shuffled
