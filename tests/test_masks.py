"""Shared mask operations (tryon.stages.masks) on drawn masks."""

from __future__ import annotations

import numpy as np

from tryon.stages import masks


def test_specks_smaller_than_the_area_go_and_larger_parts_stay() -> None:
    mask = np.zeros((60, 60), bool)
    mask[5:7, 5:8] = True  # a sliver between a sleeve and a strap (6 px)
    mask[20:50, 20:35] = True  # a forearm
    out = masks.drop_specks(mask, 40.0)
    assert not out[5:7, 5:8].any() and out[20:50, 20:35].all()


def test_small_enclosed_holes_fill_but_large_ones_and_open_notches_do_not() -> None:
    mask = np.zeros((80, 80), bool)
    mask[10:70, 10:70] = True
    mask[20:23, 20:23] = False  # an eye: 9 px, enclosed
    mask[30:60, 30:60] = False  # the gap framed by two arms: 900 px, enclosed
    mask[10:15, 40:45] = False  # a notch open to the outside
    mask[10:70, 0:2] = False
    out = masks.fill_small_holes(mask, 50)
    assert out[20:23, 20:23].all()
    assert not out[30:60, 30:60].any()
    assert not out[10:15, 40:45].any()


def test_keep_touching_keeps_only_the_seeded_components_of_enough_area() -> None:
    mask = np.zeros((40, 40), bool)
    mask[2:10, 2:10] = True  # seeded, 64 px
    mask[20:22, 20:22] = True  # seeded, 4 px
    mask[30:38, 30:38] = True  # not seeded
    seeds = np.zeros_like(mask)
    seeds[5, 5] = seeds[21, 21] = True
    out = masks.keep_touching(mask, seeds, min_area=10)
    assert out[2:10, 2:10].all() and not out[20:22, 20:22].any() and not out[30:38, 30:38].any()


def test_grow_reaches_the_radius_and_no_further() -> None:
    mask = np.zeros((50, 50), bool)
    mask[25, 25] = True
    out = masks.grow(mask, 5.0)
    assert out[25, 30] and out[20, 25] and not out[25, 32] and not out[18, 25]
    assert masks.grow(np.zeros_like(mask), 5.0).sum() == 0


def test_fill_nearest_gives_every_inside_pixel_the_nearest_label() -> None:
    labels = np.zeros((10, 20), np.uint8)
    labels[:, 0] = 1
    labels[:, 19] = 2
    inside = np.ones_like(labels, bool)
    out = masks.fill_nearest(labels, inside)
    assert (out[:, :9] == 1).all() and (out[:, 11:] == 2).all()


def test_nearest_gives_each_pixel_its_nearest_mask_pixel_and_the_distance_to_it() -> None:
    mask = np.zeros((10, 20), bool)
    mask[3, 2] = mask[6, 17] = True
    dist, index = masks.nearest(mask)
    ys, xs = np.divmod(index, mask.shape[1])
    assert mask[ys, xs].all()
    assert (xs[:, :8] == 2).all() and (xs[:, 13:] == 17).all()
    assert dist[3, 2] == 0 and abs(dist[3, 7] - 5.0) < 0.1


def test_upsampled_outlines_follow_the_shape_closer_than_blocks() -> None:
    small = np.zeros((20, 20), bool)
    yy, xx = np.mgrid[0:20, 0:20]
    small[(yy - 9.5) ** 2 + (xx - 9.5) ** 2 < 49] = True
    big = masks.upsample(small, (80, 80))
    blocks = np.kron(small, np.ones((4, 4), bool))
    yy, xx = np.mgrid[0:80, 0:80]
    disc = (yy - 39.5) ** 2 + (xx - 39.5) ** 2 < 28**2  # the shape the small mask samples
    assert (big ^ disc).sum() < (blocks ^ disc).sum()


def test_hole_filling_agrees_with_scipys_fill_holes_on_random_masks() -> None:
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for _ in range(100):
        mask = ndimage.binary_opening(rng.random((40, 50)) < rng.uniform(0.3, 0.8))
        max_area = float(rng.uniform(1, 30))
        holes = ndimage.binary_fill_holes(mask) & ~mask
        labels, count = ndimage.label(holes)  # 4-connected, as holes are
        sizes = ndimage.sum(holes, labels, range(count + 1))
        expected = mask | (holes & (sizes[labels] < np.ceil(max_area)))
        assert np.array_equal(masks.fill_small_holes(mask, max_area), expected)


def test_smoothing_an_outline_turns_stairs_into_a_line_and_keeps_the_size() -> None:
    mask = np.zeros((80, 80), bool)
    for step in range(10):  # a diagonal edge drawn in 4-px stairs, as a 4x upsampled mask has
        mask[step * 4:(step + 1) * 4, : 20 + step * 4] = True
    smooth = masks.smooth_outline(mask, 2.0)
    rows = np.arange(4, 36)
    ends = np.array([np.flatnonzero(smooth[y]).max() for y in rows])
    stairs = np.array([np.flatnonzero(mask[y]).max() for y in rows])
    # The stairs' row ends jump 4 px every 4 rows; the smoothed ones move ~1 px a row.
    assert np.abs(np.diff(stairs)).max() == 4 and np.abs(np.diff(ends)).max() <= 2
    assert abs(int(smooth.sum()) - int(mask.sum())) < 0.05 * mask.sum()
    assert not masks.smooth_outline(np.zeros((5, 5), bool), 2.0).any()


def test_row_spans_fill_each_row_across_its_gap_and_leave_empty_rows() -> None:
    mask = np.zeros((4, 10), bool)
    mask[1, [2, 7]] = True  # two legs in one row
    mask[2, 4] = True
    spans = masks.row_spans(mask)
    assert spans[1].tolist() == [False, False] + [True] * 6 + [False, False]
    assert spans[2].sum() == 1 and not spans[0].any() and not spans[3].any()


def test_row_spans_bridge_a_short_notch_and_keep_a_taper() -> None:
    # Legs tapering outwards down the rows (the right end moves 1 px a row) with a hand taken out of rows 20-29.
    mask = np.zeros((60, 100), bool)
    for y in range(60):
        mask[y, 10:50 + y // 2] = True
    mask[20:30, 40:] = False
    plain, bridged = masks.row_spans(mask), masks.row_spans(mask, bridge=15)
    ends = np.array([np.flatnonzero(bridged[y]).max() for y in range(60)])
    assert not plain[25, 45]
    assert bridged[25, 45] and ends[19] <= ends[25] <= ends[30]  # the notch joined across
    assert (ends[:19] == [np.flatnonzero(mask[y]).max() for y in range(19)]).all()  # the taper as it was
    assert (masks.row_spans(mask, bridge=5)[20:30, 45:] == plain[20:30, 45:]).all()  # a longer notch stays
