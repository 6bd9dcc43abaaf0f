"""The grid -> image -> capture -> desktop transform, monitor layouts and the model's image size.

Pure arithmetic on explicit monitor layouts: no display is used.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from perception.geometry import CoordinateTransform, Monitor, OffScreen, ScreenLayout
from perception.screen import PATCH, Screenshot, fit_to_budget

BUDGET = 1280 * 800

PLAIN = CoordinateTransform(Monitor(1, 0, 0, 1280, 800, primary=True), (1280, 800), (1280, 800))
# A 1920x1080 monitor left of and above the primary, shown to the model at 1344x736.
LEFT = CoordinateTransform(Monitor(2, -1920, -200, 1920, 1080), (1920, 1080), (1344, 736))
# A HiDPI 1440x900 monitor: the capture has 2x the logical pixels, the model sees 1280x800.
HIDPI = CoordinateTransform(Monitor(1, 0, 0, 1440, 900, primary=True), (2880, 1800), (1280, 800))


# ---- plain monitor ------------------------------------------------------------------------


def test_plain_monitor():
    t = PLAIN
    assert t.scale == (1.0, 1.0)
    assert t.to_desktop((0, 0)) == (0, 0)
    assert t.to_desktop((500, 500)) == (640, 400)
    assert t.to_desktop((250, 750)) == (320, 600)
    assert t.to_desktop((337, 146)) == (431, 116)
    assert t.to_desktop((1000, 1000)) == (1279, 799)  # clamped onto the last pixel
    assert t.to_desktop((1000, 0)) == (1279, 0)
    assert t.to_desktop((0, 1000)) == (0, 799)


def test_plain_monitor_steps():
    t = PLAIN
    assert t.grid_to_image((500, 250)) == (640.0, 200.0)
    assert t.image_to_capture((640.0, 200.0)) == (640.0, 200.0)
    assert t.capture_to_desktop((640.7, 200.2)) == (640, 200)


def test_desktop_to_grid_plain():
    # a desktop pixel maps to its centre on the grid, so the way back lands on it exactly
    assert PLAIN.desktop_to_grid((0, 0)) == pytest.approx((0.5 / 1280 * 1000, 0.5 / 800 * 1000))
    assert PLAIN.desktop_to_grid((640, 400)) == pytest.approx((640.5 / 1280 * 1000, 400.5 / 800 * 1000))
    assert PLAIN.desktop_to_grid((1279, 799)) == pytest.approx((1279.5 / 1280 * 1000, 799.5 / 800 * 1000))


# ---- a monitor at a negative offset ---------------------------------------------------------


def test_negative_offset_monitor():
    t = LEFT
    assert t.scale == (1.0, 1.0)
    assert t.to_desktop((0, 0)) == (-1920, -200)  # the monitor's own top-left
    assert t.to_desktop((500, 500)) == (-960, 340)
    assert t.to_desktop((1000, 1000)) == (-1, 879)  # last pixel: 1920 - 1 - 1920, 1080 - 1 - 200
    assert t.grid_to_image((500, 500)) == (672.0, 368.0)
    assert t.image_to_capture((672.0, 368.0)) == (960.0, 540.0)


def test_negative_offset_inverse():
    assert LEFT.to_desktop(LEFT.desktop_to_grid((-1920, -200))) == (-1920, -200)
    assert LEFT.to_desktop(LEFT.desktop_to_grid((-960, 340))) == (-960, 340)
    with pytest.raises(OffScreen):
        LEFT.desktop_to_grid((0, 0))  # that is the primary's origin, not on this monitor
    with pytest.raises(OffScreen):
        LEFT.desktop_to_grid((-1921, 0))
    with pytest.raises(OffScreen):
        LEFT.desktop_to_grid((-100, 880))  # one below the last row


# ---- HiDPI -------------------------------------------------------------------------------


def test_hidpi_monitor():
    t = HIDPI
    assert t.scale == (2.0, 2.0)
    assert t.to_desktop((0, 0)) == (0, 0)
    assert t.grid_to_image((500, 500)) == (640.0, 400.0)
    assert t.image_to_capture((640.0, 400.0)) == (1440.0, 900.0)  # capture pixels: 2x
    assert t.capture_to_desktop((1440.0, 900.0)) == (720, 450)  # back to logical pixels
    assert t.to_desktop((500, 500)) == (720, 450)
    assert t.to_desktop((1000, 1000)) == (1439, 899)
    assert t.to_desktop(t.desktop_to_grid((720, 450))) == (720, 450)


def test_hidpi_monitor_at_an_offset_with_unequal_scale():
    monitor = Monitor(3, 1440, -300, 1000, 500)
    t = CoordinateTransform(monitor, (1500, 1000), (768, 512))  # 1.5x across, 2x down
    assert t.scale == (1.5, 2.0)
    assert t.to_desktop((0, 0)) == (1440, -300)
    assert t.to_desktop((500, 500)) == (1940, -50)
    assert t.to_desktop((1000, 1000)) == (2439, 199)


# ---- the grid's bounds ------------------------------------------------------------------


@pytest.mark.parametrize(
    "point", [(-1, 0), (0, -0.5), (1000.01, 500), (500, 1001), (2000, 2000), (-1000, -1000)]
)
@pytest.mark.parametrize("transform", [PLAIN, LEFT, HIDPI], ids=["plain", "left", "hidpi"])
def test_points_off_the_grid_raise(transform, point):
    with pytest.raises(OffScreen) as error:
        transform.to_desktop(point)
    assert "outside the 0..1000 grid" in str(error.value)


def test_offscreen_is_a_value_error():
    assert issubclass(OffScreen, ValueError)


def test_desktop_point_off_the_monitor_names_it():
    with pytest.raises(OffScreen) as error:
        PLAIN.desktop_to_grid((1280, 0))
    assert "(1280, 0)" in str(error.value) and "monitor 1" in str(error.value)


# ---- round trips (hypothesis) -------------------------------------------------------------


@st.composite
def transforms(draw):
    width = draw(st.integers(200, 4000))
    height = draw(st.integers(200, 4000))
    monitor = Monitor(1, draw(st.integers(-5000, 5000)), draw(st.integers(-5000, 5000)), width, height)
    scale = draw(st.sampled_from([1.0, 1.25, 1.5, 2.0]))
    capture = (round(width * scale), round(height * scale))
    budget = draw(st.sampled_from([BUDGET, 640 * 480, 1920 * 1080]))
    return CoordinateTransform(monitor, capture, fit_to_budget(capture, budget))


@settings(max_examples=300, deadline=None, database=None)
@given(transforms(), st.floats(0, 1), st.floats(0, 1))
def test_desktop_to_grid_then_back_lands_on_the_same_pixel(t, fx, fy):
    m = t.monitor
    point = (m.left + min(int(fx * m.width), m.width - 1), m.top + min(int(fy * m.height), m.height - 1))
    grid = t.desktop_to_grid(point)
    assert all(0 <= v <= 1000 for v in grid)
    assert t.to_desktop(grid) == point


@settings(max_examples=300, deadline=None, database=None)
@given(transforms(), st.floats(0, 1000), st.floats(0, 1000))
def test_grid_to_desktop_then_back_within_a_pixel(t, gx, gy):
    desktop = t.to_desktop((gx, gy))
    assert t.monitor.contains(*desktop)
    again = t.desktop_to_grid(desktop)
    pixel = (1000 / t.monitor.width, 1000 / t.monitor.height)  # one logical pixel in grid units
    assert abs(again[0] - gx) <= pixel[0] + 1e-6
    assert abs(again[1] - gy) <= pixel[1] + 1e-6


@settings(max_examples=100, deadline=None, database=None)
@given(transforms())
def test_corners_map_to_the_monitors_corners(t):
    m = t.monitor
    assert t.to_desktop((0, 0)) == (m.left, m.top)
    assert t.to_desktop((1000, 1000)) == (m.left + m.width - 1, m.top + m.height - 1)
    assert t.to_desktop((1000, 0)) == (m.left + m.width - 1, m.top)
    assert t.to_desktop((0, 1000)) == (m.left, m.top + m.height - 1)


# ---- monitors and layouts ---------------------------------------------------------------


def test_monitor_contains_is_half_open():
    m = Monitor(2, -1920, -200, 1920, 1080)
    assert m.contains(-1920, -200)
    assert m.contains(-1, 879)
    assert not m.contains(0, 0)
    assert not m.contains(-1920, 880)
    assert not m.contains(-1921, -200)


def test_monitor_str():
    assert str(Monitor(1, 0, 0, 1280, 800, primary=True)) == "monitor 1 primary 1280x800+0+0"
    assert str(Monitor(2, -1920, -200, 1920, 1080)) == "monitor 2 1920x1080-1920-200"


def test_layout_needs_a_monitor():
    with pytest.raises(ValueError):
        ScreenLayout(())


def test_primary_is_the_flagged_monitor():
    flagged = Monitor(2, 1280, 0, 1920, 1080, primary=True)
    layout = ScreenLayout((Monitor(1, 0, 0, 1280, 800), flagged))
    assert layout.primary is flagged


def test_primary_without_a_flag_is_the_one_at_the_origin():
    left = Monitor(1, -1920, -200, 1920, 1080)
    origin = Monitor(2, 0, 0, 1280, 800)
    assert ScreenLayout((left, origin)).primary is origin


def test_primary_without_flag_or_origin_is_the_first():
    first = Monitor(1, 100, 100, 800, 600)
    assert ScreenLayout((first, Monitor(2, 900, 100, 800, 600))).primary is first


def test_monitor_by_index_and_at_a_point():
    left = Monitor(1, -1920, -200, 1920, 1080)
    main = Monitor(2, 0, 0, 1280, 800, primary=True)
    layout = ScreenLayout((left, main))
    assert layout.monitor(1) is left
    assert layout.monitor(2) is main
    with pytest.raises(ValueError, match="no monitor 3.*monitors 1, 2"):
        layout.monitor(3)
    assert layout.monitor_at(-1, 0) is left
    assert layout.monitor_at(-1920, -200) is left
    assert layout.monitor_at(0, 0) is main
    assert layout.monitor_at(1279, 799) is main
    assert layout.monitor_at(1280, 0) is None
    assert layout.monitor_at(100, -1) is None  # above the primary, right of the left monitor
    assert layout.monitor_at(-5, 890) is None  # below the left monitor


# ---- describe ----------------------------------------------------------------------------


def test_describe_names_every_stage():
    text = HIDPI.describe()
    assert "grid 0..1000" in text
    assert "model image 1280x800" in text
    assert "capture 2880x1800" in text
    assert "scale 2x2" in text
    assert "monitor 1 primary 1440x900+0+0" in text
    assert text.index("grid") < text.index("model image") < text.index("capture") < text.index("monitor")


def test_describe_negative_offset():
    text = LEFT.describe()
    assert "model image 1344x736" in text and "capture 1920x1080" in text
    assert "scale 1x1" in text and "1920x1080-1920-200" in text


# ---- the screenshot ties the images to the transform ----------------------------------------


def test_screenshot_transform_and_digest():
    monitor = Monitor(1, 0, 0, 1440, 900, primary=True)
    capture = Image.new("RGB", (2880, 1800), "white")
    shot = Screenshot(capture=capture, image=capture.resize((1280, 800)), monitor=monitor, window=None)
    assert shot.transform == HIDPI
    same = Screenshot(capture=capture, image=Image.new("RGB", (1280, 800), "white"), monitor=monitor, window=None)
    other = Screenshot(capture=capture, image=Image.new("RGB", (1280, 800), "black"), monitor=monitor, window=None)
    assert shot.digest == same.digest
    assert shot.digest != other.digest


# ---- fit_to_budget ------------------------------------------------------------------------


def test_fit_keeps_a_size_that_fits():
    assert fit_to_budget((1280, 800), BUDGET) == (1280, 800)


def test_fit_shrinks_full_hd():
    w, h = fit_to_budget((1920, 1080), BUDGET)
    assert (w, h) == (1344, 736)
    assert w * h <= BUDGET


def test_fit_hidpi_capture():
    assert fit_to_budget((2880, 1800), BUDGET) == (1280, 800)


def test_fit_rounds_to_patches_and_grows_tiny_images():
    assert fit_to_budget((1000, 700), BUDGET) == (992, 704)
    w, h = fit_to_budget((20, 20), BUDGET)
    assert w % PATCH == 0 and h % PATCH == 0
    assert w * h >= PATCH * PATCH * 4


@settings(max_examples=400, deadline=None, database=None)
@given(
    st.integers(320, 8000),
    st.floats(1 / 3, 3),
    st.sampled_from([BUDGET, 640 * 480, 1024 * 768, 1920 * 1080, 2560 * 1440]),
)
def test_fit_properties(width, aspect, budget):
    height = max(320, round(width / aspect))
    w, h = fit_to_budget((width, height), budget)
    assert w % PATCH == 0 and h % PATCH == 0
    assert w >= PATCH and h >= PATCH
    assert w * h <= max(budget, PATCH * PATCH * 4)
    assert math.isclose(w / h, width / height, rel_tol=0.15)
    # never needlessly small: within one patch of the budget's side length
    if width * height > budget:
        full = math.sqrt(budget * width / height)
        assert w >= full - 2 * PATCH
