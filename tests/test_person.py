"""The person model (tryon.stages.person) on drawn landmarks: one frame, one bare body, one set of rules."""

from __future__ import annotations

import numpy as np
import pytest

from tryon.stages import landmarks as lm
from tryon.stages import masks
from tryon.stages.body import PART_NAMES, RegionMasks
from tryon.stages.person import PROPORTIONS, BodyFrame, BodyShape, Silhouette, ray_extent

SIZE = (800, 600)


def standing(
    shoulder_px: float = 160.0, torso_px: float = 240.0, tilt_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks of a person standing upright (or tilted by ``tilt_deg``), all visible."""
    points = np.zeros((33, 2))
    cx, top = 300.0, 200.0
    half = shoulder_px / 2
    points[lm.LEFT_SHOULDER] = (cx + half, top)
    points[lm.RIGHT_SHOULDER] = (cx - half, top)
    points[lm.LEFT_HIP] = (cx + 0.7 * half, top + torso_px)
    points[lm.RIGHT_HIP] = (cx - 0.7 * half, top + torso_px)
    for side, sign in (("LEFT", 1), ("RIGHT", -1)):
        points[getattr(lm, f"{side}_ELBOW")] = (cx + sign * (half + 20), top + 0.55 * torso_px)
        points[getattr(lm, f"{side}_WRIST")] = (cx + sign * (half + 25), top + 1.05 * torso_px)
        points[getattr(lm, f"{side}_KNEE")] = (cx + sign * 0.6 * half, top + 1.9 * torso_px)
        points[getattr(lm, f"{side}_ANKLE")] = (cx + sign * 0.6 * half, top + 2.7 * torso_px)
    points[lm.MOUTH_LEFT] = (cx + 15, top - 0.45 * torso_px)
    points[lm.MOUTH_RIGHT] = (cx - 15, top - 0.45 * torso_px)
    if tilt_deg:
        angle = np.radians(tilt_deg)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = (points - (cx, top)) @ rot.T + (cx, top)
    return points, np.ones(33)


def test_the_frame_measures_depth_in_pixels_and_torso_lengths() -> None:
    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    assert frame.torso_px == pytest.approx(240.0)
    assert frame.depth_px(frame.mid_hip) == pytest.approx(240.0)
    assert frame.depth_tl(frame.mid_shoulder + 120.0 * frame.down) == pytest.approx(0.5)
    depth = frame.depth_map_tl()
    assert depth.shape == SIZE
    assert depth[int(frame.mid_hip[1]), int(frame.mid_hip[0])] == pytest.approx(1.0, abs=0.01)


def test_across_points_to_the_wearers_left_whatever_the_tilt() -> None:
    for tilt in (-30.0, 0.0, 30.0):
        points, vis = standing(tilt_deg=tilt)
        frame = BodyFrame.from_landmarks(points, vis, SIZE)
        assert np.dot(frame.across, points[lm.LEFT_SHOULDER] - points[lm.RIGHT_SHOULDER]) > 0
        assert abs(np.dot(frame.across, frame.down)) < 1e-9


def test_a_body_turned_sideways_keeps_a_sensible_unit() -> None:
    # Shoulder joints close together (a side view): half the torso length bounds the unit.
    frame = BodyFrame.from_landmarks(*standing(shoulder_px=40.0, torso_px=240.0), SIZE)
    assert frame.unit_px == pytest.approx(PROPORTIONS.unit_torso_share * 240.0)
    front = BodyFrame.from_landmarks(*standing(shoulder_px=160.0), SIZE)
    assert front.unit_px == pytest.approx(160.0)


def test_a_plain_three_quarter_turn_names_the_arm_turned_away_and_a_slight_one_none() -> None:
    points, vis = standing(shoulder_px=100.0)
    span = 100.0
    for further, far in ((1.5, "arm_left"), (-1.5, "arm_right"), (0.8, None), (-0.8, None)):
        z = np.zeros(33)
        z[lm.LEFT_SHOULDER] = further * span  # MediaPipe: larger is further from the camera
        assert BodyFrame.from_landmarks(points, vis, SIZE, z=z).far_arm == far
    assert BodyFrame.from_landmarks(points, vis, SIZE).far_arm is None  # depth unknown
    z = np.zeros(33)
    z[lm.LEFT_SHOULDER] = 3 * span
    hidden = vis.copy()
    hidden[lm.RIGHT_SHOULDER] = 0.0
    assert BodyFrame.from_landmarks(points, hidden, SIZE, z=z).far_arm is None  # one shoulder unseen


def test_the_waist_and_the_neck_base_are_the_same_for_every_stage() -> None:
    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    assert frame.waist_depth_px == pytest.approx(PROPORTIONS.natural_waist_tl * 240.0)
    assert frame.neck_base_depth_px == pytest.approx(-PROPORTIONS.neck_base_rise_u * 160.0)


def test_the_centre_line_follows_the_legs_and_stops_extending_where_they_are_unseen() -> None:
    points, vis = standing()
    frame = BodyFrame.from_landmarks(points, vis, SIZE)
    knees = 0.5 * (points[lm.LEFT_KNEE] + points[lm.RIGHT_KNEE])
    hip_to_knee = float(np.linalg.norm(knees - frame.mid_hip))
    assert np.allclose(frame.centre(240.0 + hip_to_knee), knees)
    assert frame.lowest_hem_px() is not None
    vis[[lm.LEFT_KNEE, lm.RIGHT_KNEE]] = 0.1
    cropped = BodyFrame.from_landmarks(points, vis, SIZE)
    assert cropped.lowest_hem_px() is None  # no ankles seen: a dress's hem is not bounded
    assert len(cropped.centre_line) == 3  # shoulders, hips, and the extension


def test_the_bare_torso_has_a_waist_narrower_than_shoulders_and_hips() -> None:
    shape = BodyShape.of(BodyFrame.from_landmarks(*standing(), SIZE))
    waist = shape.half_width_px(PROPORTIONS.natural_waist_tl)
    assert waist < shape.half_width_px(0.0)
    assert waist < shape.half_width_px(1.0)
    assert shape.hip_half_width_px(0.5 * 240.0) == 0.0  # above the waist the hips do not reach
    assert shape.hip_half_width_px(240.0) == pytest.approx((0.5 + PROPORTIONS.hip_flesh_hw) * 0.7 * 160.0)


def test_bare_limbs_taper_from_shoulder_to_wrist_and_swell_at_the_calf() -> None:
    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    shape = BodyShape.of(frame)
    arm = [shape.limb_radius_px("arm_left", t) for t in (30.0, 150.0, 260.0)]
    assert arm[0] > arm[1] > arm[2] > 0
    shoulder, elbow, wrist = frame.chain("arm_left")
    end = float(np.linalg.norm(elbow - shoulder) + np.linalg.norm(wrist - elbow))
    assert shape.limb_radius_px("arm_left", end + 50.0) == pytest.approx(PROPORTIONS.arm_radii_u[3] * 160.0)
    hip, knee, ankle = frame.chain("leg_left")
    thigh = float(np.linalg.norm(knee - hip))
    shin = float(np.linalg.norm(ankle - knee))
    at_knee = shape.limb_radius_px("leg_left", thigh + 1.0)
    at_calf = shape.limb_radius_px("leg_left", thigh + PROPORTIONS.calf_at_share * shin)
    assert at_calf > at_knee


def test_across_is_signed_towards_the_photos_right_on_every_part() -> None:
    from tryon.stages.person import PART_KINDS

    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    shape = BodyShape.of(frame)
    elbow, wrist = frame.chain("arm_right")[1:]
    forearm = 0.5 * (elbow + wrist)
    hips = frame.mid_hip + np.array([0.0, -30.0])
    step = np.array([1.0, 0.0])
    points = np.array([forearm - 6 * step, forearm + 6 * step, hips - 20 * step, hips + 20 * step])
    signed, kind = shape.across(points[:, 1], points[:, 0])
    assert [PART_KINDS[k] for k in kind] == ["arm", "arm", "torso", "torso"]
    assert signed[0] < 0 < signed[1] and signed[2] < 0 < signed[3]
    assert np.allclose(np.abs(signed), shape.roundness(points[:, 1], points[:, 0]))


def test_the_forearm_carries_on_past_the_wrist_to_the_hand() -> None:
    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    shape = BodyShape.of(frame)
    elbow, wrist = frame.chain("arm_left")[1:]
    down = (wrist - elbow) / np.linalg.norm(wrist - elbow)
    radius = shape.limb_radius_px("arm_left", 1e6)  # the wrist's
    arm = shape.limbs_mask(("arm_left",))
    # A round cap at the joint would reach one radius past it; the hand's heel lies further.
    x, y = np.round(wrist + 1.6 * radius * down).astype(int)
    assert arm[y, x]
    side = np.array([-down[1], down[0]])
    x, y = np.round(wrist + 0.9 * radius * down + 0.8 * radius * side).astype(int)
    assert arm[y, x]  # as wide as the wrist, not narrowing in a cap


def test_the_shin_carries_on_past_the_ankle_to_the_heel() -> None:
    # A trouser hem over the shoe's top, removed, bares the ankle down into the shoe's opening: a
    # round cap at the joint left a painted stump with backdrop between it and the shoe.
    frame = BodyFrame.from_landmarks(*standing(), (1100, 600))  # the feet in the photo
    shape = BodyShape.of(frame)
    knee, ankle = frame.chain("leg_right")[1:]
    down = (ankle - knee) / np.linalg.norm(ankle - knee)
    radius = shape.limb_radius_px("leg_right", 1e6)  # the ankle's
    leg = shape.limbs_mask(("leg_right",))
    x, y = np.round(ankle + (PROPORTIONS.ankle_reach_share - 0.1) * radius * down).astype(int)
    assert leg[y, x]
    side = np.array([-down[1], down[0]])
    x, y = np.round(ankle + 0.9 * radius * down + 0.8 * radius * side).astype(int)
    assert leg[y, x]  # as wide as the ankle, not narrowing in a cap
    x, y = np.round(ankle + (PROPORTIONS.ankle_reach_share + 1.2) * radius * down).astype(int)
    assert not leg[y, x]  # not on down to the floor


def test_roundness_is_zero_on_the_axis_and_one_on_the_outline() -> None:
    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    shape = BodyShape.of(frame)
    centre = frame.mid_shoulder + 0.5 * frame.torso_px * frame.down
    edge = centre + shape.half_width_px(0.5) * frame.across
    far = centre + 3 * frame.unit_px * frame.across
    r = shape.roundness(np.array([centre[1], edge[1], far[1]]), np.array([centre[0], edge[0], far[0]]))
    assert r[0] == pytest.approx(0.0, abs=0.02)
    assert r[1] == pytest.approx(1.0, abs=0.05)
    assert r[2] > 1.0


def test_masks_of_the_bare_body_lie_inside_the_image_and_do_not_overlap_far_from_the_body() -> None:
    shape = BodyShape.of(BodyFrame.from_landmarks(*standing(), SIZE))
    torso, limbs = shape.torso_mask(), shape.limbs_mask()
    assert torso.shape == SIZE and limbs.shape == SIZE
    assert torso[300, 300] and not torso[300, 20]
    arm = shape.limbs_mask(("arm_left",))
    assert arm.sum() > 0 and not (arm & shape.limbs_mask(("arm_right",))).any()


def test_the_silhouette_measures_the_outline_from_the_centre_line() -> None:
    points, vis = standing()
    frame = BodyFrame.from_landmarks(points, vis, SIZE)
    person = np.zeros(SIZE, bool)
    person[170:760, 220:400] = True  # a box 180 px wide centred on x = 310, its top 30 px above the joints
    empty = np.zeros(SIZE, bool)
    silhouette = Silhouette(frame=frame, person=person, trunk=person, arm_skin=empty, no_head=person)
    left, right = silhouette.half_widths(120.0)
    assert left == pytest.approx(399 - 300, abs=1) and right == pytest.approx(300 - 220, abs=1)
    seam = silhouette.shoulder_seam("left")
    assert seam[1] == pytest.approx(170.0, abs=1.5)  # on top of the shoulder: the box's top edge
    person[:170, 220:400] = True  # the outline goes on past the search (hair, a raised hand): the usual rise
    assert silhouette.shoulder_seam("left")[1] == pytest.approx(200.0 - PROPORTIONS.shoulder_rise_u * 160.0)


def test_a_ray_bridges_gaps_narrower_than_its_gap_and_stops_at_wider_ones() -> None:
    mask = np.zeros((10, 100), bool)
    mask[5, 0:20] = True
    mask[5, 23:40] = True  # a 3 px gap
    mask[5, 60:80] = True  # a 20 px gap
    origin, right = np.array([0.0, 5.0]), np.array([1.0, 0.0])
    assert ray_extent(mask, origin, right, 99, gap_px=5) == 39
    assert ray_extent(mask, origin, right, 99, gap_px=2) == 19
    assert ray_extent(np.zeros_like(mask), origin, right, 99, gap_px=5) == 0


@pytest.mark.parametrize("girth", [1.0, 0.8])
def test_the_thighs_meet_below_the_crotch_and_keep_their_outer_side(girth: float) -> None:
    # Slim legs (their girth measured on bare shins, 0.8x the model's) made painted thighs sticks with a
    # gap of backdrop between them up to a mini dress's hem (v54). At the top, each thigh reaches the
    # body's middle; its outer side stays where it was (an arm hangs beside the hips there).
    from tryon.stages.person import _limb_segments, _thighs_meet

    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    slim = tuple(s if not s.limb.startswith("leg") else
                 type(s)(a=s.a, b=s.b, ra=girth * s.ra, rb=girth * s.rb, limb=s.limb)
                 for s in _limb_segments(frame))
    raw = next(s for s in slim if s.limb == "leg_left")
    met = next(s for s in _thighs_meet(frame, slim) if s.limb == "leg_left")
    middle = 0.5 * (frame.chain("leg_left")[0] + frame.chain("leg_right")[0])
    inward = (middle - raw.a) / np.linalg.norm(middle - raw.a)
    assert np.dot(met.a + met.ra * inward - middle, inward) >= -1.0  # reaches the middle
    assert np.linalg.norm((met.a - met.ra * inward) - (raw.a - raw.ra * inward)) < 1.0  # outer side kept
    assert np.array_equal(met.b, raw.b) and met.rb == raw.rb  # the knee is the thigh's own


def test_limbs_take_the_girth_their_bare_skin_shows_and_the_model_where_none_shows() -> None:
    from tryon.stages.person import _limb_segments, draw_tapered

    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    model = BodyShape.of(frame)
    shin = 300.0  # px down the leg (the thigh's top also reaches the body's middle, whatever the girth)
    for girth in (1.3, 0.85):
        skin = np.zeros(SIZE, np.uint8)
        for s in _limb_segments(frame):  # bare legs this much thicker or thinner than the model's
            if s.limb.startswith("leg"):
                draw_tapered(skin, s.a, s.b, girth * s.ra, girth * s.rb)
        shape = BodyShape.of(frame, skin=skin.astype(bool))
        assert shape.limb_radius_px("leg_left", shin) == pytest.approx(girth * model.limb_radius_px("leg_left", shin),
                                                                       rel=0.08)
        assert shape.limb_radius_px("arm_left", 100.0) == model.limb_radius_px("arm_left", 100.0)  # no arm skin
    # Skin that runs on past the limb (a bare arm against a bare torso) measures nothing.
    everywhere = BodyShape.of(frame, skin=np.ones(SIZE, bool))
    assert everywhere.limb_radius_px("leg_left", 100.0) == model.limb_radius_px("leg_left", 100.0)


def test_an_arm_under_a_close_sleeve_follows_the_sleeve_smoothly_and_under_a_loose_one_stays_the_models() -> None:
    from tryon.stages.person import _limb_segments, draw_tapered

    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    model = BodyShape.of(frame)
    inset = 2.0
    rng = np.random.default_rng(3)
    close = np.zeros(SIZE, np.uint8)
    loose = np.zeros(SIZE, np.uint8)
    shift = np.array([4.0, 0.0])  # the sleeve lies a little off the joints' line, outwards
    for s in _limb_segments(frame):
        if s.limb == "arm_left":
            draw_tapered(close, s.a + shift, s.b + shift, 1.15 * s.ra + inset, 1.15 * s.rb + inset)
            draw_tapered(loose, s.a, s.b, 2.0 * s.ra, 2.0 * s.rb)
    # A ragged outline: each row's ends moved in or out by up to 3 px, as a parse at a lower resolution leaves.
    for y in np.flatnonzero(close.any(axis=1)):
        run = np.flatnonzero(close[y])
        close[y] = 0
        close[y, run[0] + rng.integers(-3, 4): run[-1] + 1 + rng.integers(-3, 4)] = 1
    share_range = (0.7, 1.35)
    fitted = model.fitted_to(close.astype(bool), ("arm_left",), share_range, inset_px=inset)
    for s, m in zip(fitted.segments, model.segments, strict=True):
        if s.limb != "arm_left":
            assert s == m  # other limbs untouched
            continue
        if np.allclose(m.a, frame.chain("arm_left")[2]):
            continue  # past the wrist, where the sleeve ended
        assert s.ra == pytest.approx(1.15 * m.ra, abs=1.5) and s.rb == pytest.approx(1.15 * m.rb, abs=1.5)
        assert s.a[0] - m.a[0] == pytest.approx(shift[0], abs=1.5)  # the arm moved with the sleeve
    # The arm's outline is straight, not the sleeve's ragged one; it lies inside the sleeve.
    arm = fitted.limbs_mask(("arm_left",))
    rows = np.flatnonzero(arm.any(axis=1))[40:-40]

    def jitter(mask: np.ndarray) -> float:  # mean step of the outer outline from row to row
        return float(np.abs(np.diff([np.flatnonzero(mask[y])[-1] for y in rows])).mean())

    assert jitter(close) > 1.5 and jitter(arm) < 0.5
    assert (arm & ~masks.grow(close.astype(bool), 2.0)).sum() < 0.01 * arm.sum()
    # Under a loose sleeve (twice the model's girth) and with no sleeve at all, the arm is the model's.
    for cover in (loose.astype(bool), np.zeros(SIZE, bool)):
        same = model.fitted_to(cover, ("arm_left",), share_range, inset_px=inset)
        assert [(s.ra, s.rb) for s in same.segments] == [(s.ra, s.rb) for s in model.segments]


def _leg_scene(knee_scale: float) -> tuple[BodyFrame, BodyShape, RegionMasks, np.ndarray, np.ndarray, int]:
    """A standing figure in a skirt ending ``0.1`` unit above the knees; below it bare legs whose skin is
    ``knee_scale`` times the model's width. Returns frame, shape, regions, skin, skirt and the hem's row."""
    from tryon.stages.person import draw_tapered

    frame = BodyFrame.from_landmarks(*standing(), SIZE)
    shape = BodyShape.of(frame)
    regions, skin = {}, np.zeros(SIZE, np.uint8)
    for limb, parts in (("leg_left", ("thigh_left", "shin_left")), ("leg_right", ("thigh_right", "shin_right")),
                        ("arm_left", ("upper_arm_left", "lower_arm_left")),
                        ("arm_right", ("upper_arm_right", "lower_arm_right"))):
        hip, knee, ankle = frame.chain(limb)
        for part, (a, b) in zip(parts, ((hip, knee), (knee, ankle)), strict=True):
            canvas = np.zeros(SIZE, np.uint8)
            draw_tapered(canvas, a, b, 60.0, 60.0)
            regions[part] = canvas.astype(bool)
        if limb.startswith("leg"):
            radius = [s for s in shape.segments if s.limb == limb][1].ra * knee_scale
            draw_tapered(skin, knee - (0, 40), ankle, radius, radius)
    hem = int(frame.chain("leg_left")[1][1] - 0.1 * frame.unit_px)
    skirt = np.zeros(SIZE, bool)
    skirt[int(frame.mid_hip[1]) - 20:hem] = True
    skin = skin.astype(bool) & ~skirt
    # One label map, as the body stage stores its parts (disjoint: the legs, drawn last, win over the arms).
    labels = np.zeros(SIZE, np.uint8)
    for part in sorted(regions, key=lambda name: name.startswith(("thigh", "shin"))):
        labels[regions[part]] = PART_NAMES.index(part) + 1
    return frame, shape, RegionMasks(labels, skin), skin, skirt & (labels > 0), hem


def _runs(row: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a bool row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return list(edges[1::2] - edges[::2])


def test_a_bared_thigh_starts_as_wide_as_the_bare_knee_below_the_old_hem() -> None:
    from tryon.stages.clothing import RULES, _limb_continuations

    frame, shape, regions, skin, skirt, hem = _leg_scene(knee_scale=1.5)
    continued, _ = _limb_continuations(skin, skirt, regions, frame, shape)
    assert not (continued & ~skirt).any()  # only under the old garment
    below = sorted(_runs(skin[hem + 3]))
    just_above = sorted(_runs(continued[hem - 3]))
    assert len(below) == 2 and len(just_above) == 2
    for bare, painted in zip(below, just_above, strict=True):
        assert painted >= 0.9 * bare  # no step at the hem
    # ...and narrows towards the model's thigh further up.
    far = int(hem - 0.9 * RULES.continue_u * frame.unit_px)
    model = shape.limbs_mask(("leg_left", "leg_right"))
    assert all(w <= 1.15 * m for w, m in zip(sorted(_runs(continued[far])), sorted(_runs(model[far])), strict=True))


def test_no_bare_limb_below_the_old_garment_no_continuation() -> None:
    from tryon.stages.clothing import _limb_continuations

    frame, shape, regions, skin, skirt, _ = _leg_scene(knee_scale=1.5)
    continued, beside = _limb_continuations(np.zeros_like(skin), skirt, regions, frame, shape)
    assert not continued.any() and not beside.any()


def test_a_bared_thigh_above_a_slim_bare_knee_is_no_wider_than_the_knee_at_the_hem() -> None:
    """The model's limb is not drawn wider than the visible limb it meets: the painted part narrows
    to it at the hem (a step there read as a painted-on panel), and turns into the model further up."""
    from tryon.stages.clothing import RULES, _limb_continuations

    frame, shape, regions, skin, skirt, hem = _leg_scene(knee_scale=0.7)
    continued, beside = _limb_continuations(skin, skirt, regions, frame, shape)
    assert not (beside & ~skirt).any()
    model = shape.limbs_mask(("leg_left", "leg_right"))
    bare = continued | (model & ~beside)
    below = sorted(_runs(skin[hem + 3]))
    just_above = sorted(_runs(bare[hem - 3]))
    assert len(below) == 2 and len(just_above) == 2
    for visible, painted in zip(below, just_above, strict=True):
        assert painted <= 1.1 * visible
    assert all(m > 1.2 * v for m, v in zip(sorted(_runs(model[hem - 3])), below, strict=True))  # the model is wider
    far = int(hem - 1.2 * RULES.continue_u * frame.unit_px)
    assert (bare[far] == model[far]).all()


def test_a_thin_strip_along_a_limbs_outline_is_not_clothing_but_a_strap_across_skin_is() -> None:
    from tryon.stages.clothing import _edge_slivers, _outline_skin, _sliver_radius

    size, unit = (400, 300), 200.0
    person = np.zeros(size, bool)
    person[50:380, 100:200] = True  # a leg, seen from the front
    skin = person.copy()
    garment = np.zeros(size, bool)
    garment[50:150, 100:200] = True  # a skirt...
    garment[150:360, 196:200] = True  # ...and a 4 px strip down the leg's outline, as a parse leaves it
    garment[200:204, 100:200] = True  # a strap across the leg: skin on both sides
    skin &= ~garment
    radius = _sliver_radius(unit)
    edge = _edge_slivers(garment, _outline_skin(skin, person, radius), radius)
    assert edge[160:350, 196:200].mean() > 0.9
    assert not edge[200:204, 110:190].any()
    assert not edge[50:145, 100:195].any()
