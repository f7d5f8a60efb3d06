"""The report's SVG charts and their scales: every chart is valid SVG (parsed with xml.etree),
values land where the axes say, and missing or empty inputs give gaps or a "no data" chart, never
an exception or a zero."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from ingest.reporting import charts
from ingest.reporting.scales import LinearScale, extent, finite, format_number, nice_domain, nice_ticks, time_ticks

NS = {"svg": "http://www.w3.org/2000/svg"}
NAN = float("nan")


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("svg:title", NS) is not None
    return root


def marks(root: ET.Element) -> ET.Element:
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "marks"]
    assert len(groups) == 1
    return groups[0]


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def points(element: ET.Element) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in (element.get("points") or "").split())]


def local(element: ET.Element) -> str:
    return element.tag.split("}")[1]


# --- scales ---------------------------------------------------------------------------------------

def test_finite_and_extent_skip_missing_values() -> None:
    assert finite([1, None, NAN, math.inf, -2.5, True]) == [1.0, -2.5]
    assert extent([None, NAN]) is None
    assert extent([3.0, 3.0]) == (2.7, 3.3)
    assert extent([0.0]) == (-1.0, 1.0)
    assert extent([2.0, 5.0], include=(0.0,)) == (0.0, 5.0)


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (-24.0, 48.0, [-20.0, 0.0, 20.0, 40.0]),
    (0.0, 33440.0, [0.0, 10000.0, 20000.0, 30000.0]),
    (0.004, 0.0061, [0.004, 0.0045, 0.005, 0.0055, 0.006]),
])
def test_nice_ticks_are_round_and_inside(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi, 5) == pytest.approx(expected)


def test_nice_domain_ends_on_ticks_and_scale_maps_linearly() -> None:
    assert nice_domain(-3.2, 87.0) == (-20.0, 100.0)
    scale = LinearScale(0.0, 100.0, 300.0, 20.0)  # y runs upwards
    assert scale(0.0) == 300.0 and scale(100.0) == 20.0 and scale(50.0) == 160.0
    assert LinearScale(5.0, 5.0, 0.0, 10.0)(5.0) == 5.0  # a degenerate domain maps to the middle


def test_format_number_uses_the_step() -> None:
    assert format_number(0.25, 0.25) == "0.25"
    assert format_number(20000, 10000) == "20k"
    assert format_number(2_000_000, 1_000_000) == "2M"
    assert format_number(-20.0, 20.0) == "-20"
    assert format_number(None) == "n/a" and format_number(NAN) == "n/a"


def test_time_ticks_are_utc_dates_within_bounds() -> None:
    lo = datetime(2024, 5, 25, 9, 40, tzinfo=timezone.utc).timestamp()
    hi = datetime(2024, 7, 1, tzinfo=timezone.utc).timestamp()
    ticks = time_ticks(lo, hi)
    assert 3 <= len(ticks) <= 7
    assert all(lo <= t <= hi for t, _ in ticks)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", label) for _, label in ticks)
    months = time_ticks(datetime(2023, 1, 15, tzinfo=timezone.utc).timestamp(),
                        datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp())
    assert all(re.fullmatch(r"\d{4}-\d{2}", label) for _, label in months)


# --- line chart -----------------------------------------------------------------------------------

def test_line_chart_places_points_on_its_axes() -> None:
    root = parse(charts.line_chart([charts.Series("s", [0, 5, 10], [0.0, 50.0, 100.0])], x_label="x", y_label="y",
                                   width=640, height=320))
    (line,) = [e for e in marks(root) if local(e) == "polyline"]
    (x0, y0), (x1, y1), (x2, y2) = points(line)
    # plot box: left 64, right 640 - 18, top 14, bottom 320 - 44; domains x [0, 10], y [0, 100]
    assert (x0, x2) == (64.0, 622.0) and x1 == pytest.approx(343.0, abs=0.1)
    assert (y0, y2) == (276.0, 14.0) and y1 == pytest.approx(145.0, abs=0.1)
    labels = texts(root)
    assert {"0", "20", "40", "60", "80", "100"} <= set(labels) and "x" in labels and "y" in labels


def test_line_chart_breaks_lines_and_bands_at_missing_values() -> None:
    series = charts.Series("curve", [1, 2, 3, 4, 5, 6], [1.0, 2.0, None, 4.0, NAN, 6.0],
                           low=[0.5, 1.5, 2.5, 3.5, 4.5, None], high=[1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
    group = marks(parse(charts.line_chart([series], x_label="bar", y_label="bps")))
    lines = [e for e in group if local(e) == "polyline"]
    dots = [e for e in group if local(e) == "circle"]  # a run of one point is a dot
    bands = [e for e in group if local(e) == "polygon"]
    assert [len(points(line)) for line in lines] == [2] and len(dots) == 2
    assert [len(points(band)) for band in bands] == [10]  # x 1..5 up, then back down


def test_line_chart_bands_widen_the_axis_and_several_series_get_a_legend() -> None:
    root = parse(charts.line_chart(
        [charts.Series("a", [0, 1], [1.0, 2.0], low=[-30.0, -20.0], high=[40.0, 50.0]),
         charts.Series("b <&>", [0, 1], [0.0, 1.0])], x_label="x", y_label="y"))
    labels = texts(root)
    assert "-40" in labels and "60" in labels  # the band's range, not only the means
    assert "b <&>" in labels  # escaped in the SVG, read back intact


@pytest.mark.parametrize("series", [[], [charts.Series("empty", [], [])],
                                    [charts.Series("none", [1, 2], [None, NAN])]])
def test_line_chart_without_data_says_so(series: list[charts.Series]) -> None:
    root = parse(charts.line_chart(series, x_label="x", y_label="y"))
    assert len(marks(root)) == 0 and "no data" in texts(root)


def test_many_series_cycle_colours_with_dashes() -> None:
    series = [charts.Series(f"s{i}", [0, 1], [i, i + 1]) for i in range(len(charts.PALETTE) + 1)]
    lines = [e for e in marks(parse(charts.line_chart(series, x_label="x", y_label="y"))) if local(e) == "polyline"]
    assert lines[0].get("stroke") == lines[-1].get("stroke")
    assert lines[0].get("stroke-dasharray") is None and lines[-1].get("stroke-dasharray") is not None


# --- histogram ------------------------------------------------------------------------------------

def test_histogram_counts_bins_and_leaves_out_missing_values() -> None:
    edges, counts, left_out = charts.histogram_counts([0.0, 0.1, 0.5, 0.99, 1.0, None, NAN, 1.5], 4, (0.0, 1.0))
    assert edges == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert counts == [2, 0, 1, 2]  # the top edge belongs to the last bin
    assert left_out == 3
    assert charts.histogram_counts([], 5) == ([], [], 0)


def test_histogram_bar_heights_follow_the_counts() -> None:
    root = parse(charts.histogram([0.1] * 4 + [0.6] * 2, x_label="p", bins=2, domain=(0.0, 1.0), height=300))
    rects = [e for e in marks(root) if local(e) == "rect"]
    heights = sorted(float(r.get("height") or 0) for r in rects)
    assert len(rects) == 2 and heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert "no data" in texts(parse(charts.histogram([None, NAN], x_label="p")))


# --- scatter --------------------------------------------------------------------------------------

def test_scatter_skips_incomplete_points_and_shares_the_diagonal_domain() -> None:
    group = charts.PointGroup("g", [0.0, 10.0, None, 5.0], [0.0, 100.0, 3.0, NAN], titles=["a", "b", "c", "d"])
    root = parse(charts.scatter([group], x_label="raw", y_label="shrunken", diagonal=True))
    circles = list(marks(root).iter("{http://www.w3.org/2000/svg}circle"))
    assert len(circles) == 2
    assert [c.find("svg:title", NS).text for c in circles] == ["a", "b"]  # type: ignore[union-attr]
    (x_a, y_a), (x_b, y_b) = [(float(c.get("cx") or 0), float(c.get("cy") or 0)) for c in circles]
    # same domain on both axes: the pixel distance of 0 -> 100 on y equals 0 -> 100 on x scaled by the box
    assert x_b > x_a and y_b < y_a
    assert "no data" in texts(parse(charts.scatter([], x_label="x", y_label="y")))


# --- heatmap --------------------------------------------------------------------------------------

def test_heatmap_colours_cells_and_greys_missing_ones() -> None:
    values = [[0.0, 0.5, None], [1.0, NAN, 0.25]]
    root = parse(charts.heatmap(["BTC", "ETH"], ["d1", "d2", "d3"], values, x_label="day", y_label="symbol",
                                value_label="gap share", domain=(0.0, 1.0)))
    cells = [e for e in marks(root) if local(e) == "rect"]
    assert len(cells) == 4
    fills = {c.find("svg:title", NS).text: c.get("fill") for c in cells}  # type: ignore[union-attr]
    assert fills["BTC d1: 0"] == charts.sequential_color(0.0) == "#f7fbff"
    assert fills["ETH d1: 1"] == charts.sequential_color(1.0) == "#08306b"
    missing = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("fill") == charts.MISSING]
    assert len(missing) == 2
    assert "no data" in texts(parse(charts.heatmap([], [], [], x_label="x", y_label="y", value_label="v")))


# --- bars -----------------------------------------------------------------------------------------

def test_bars_grow_from_zero_in_both_directions() -> None:
    root = parse(charts.bar_chart(["a", "b", "c"], [charts.BarSeries("v", [50.0, -50.0, None])], value_label="bps",
                                  height=300))
    rects = [e for e in marks(root) if local(e) == "rect"]
    assert len(rects) == 2
    (up, down) = rects
    assert float(up.get("height") or 0) == pytest.approx(float(down.get("height") or 0))
    assert float(up.get("y") or 0) + float(up.get("height") or 0) == pytest.approx(float(down.get("y") or 0), abs=0.2)


def test_horizontal_log_bars_are_proportional_to_decades() -> None:
    root = parse(charts.bar_chart(["planned", "tested", "kept", "none"],
                                  [charts.BarSeries("n", [10000.0, 100.0, 10.0, 0.0])], value_label="hypotheses",
                                  horizontal=True, log_scale=True))
    widths = [float(e.get("width") or 0) for e in marks(root) if local(e) == "rect"]
    assert len(widths) == 3  # zero cannot sit on a log axis: no bar
    assert widths[0] == pytest.approx(4 * widths[2], rel=0.01) and widths[1] == pytest.approx(2 * widths[2], rel=0.01)
    assert {"10", "100", "1000", "10k"} <= set(texts(root))


def test_grouped_bars_and_category_colours() -> None:
    root = parse(charts.bar_chart(["x1", "x2"], [charts.BarSeries("passed", [3, 2]), charts.BarSeries("failed", [1, 2])],
                                  value_label="n"))
    assert len([e for e in marks(root) if local(e) == "rect"]) == 4 and {"passed", "failed"} <= set(texts(root))
    root = parse(charts.bar_chart(["a", "b"], [charts.BarSeries("s", [1, 2])], value_label="s", horizontal=True,
                                  category_colors=["#111111", "#222222"]))
    assert [e.get("fill") for e in marks(root) if local(e) == "rect"] == ["#111111", "#222222"]
    assert "no data" in texts(parse(charts.bar_chart([], [], value_label="n")))


# --- step / area ----------------------------------------------------------------------------------

def test_step_area_holds_each_value_until_the_next_point() -> None:
    root = parse(charts.area_chart([0, 1, 2, None, 4, 5], [0.0, -1.0, -0.5, -2.0, -3.0, 0.0], x_label="t",
                                   y_label="drawdown"))
    outlines = [e for e in marks(root) if local(e) == "polyline"]
    assert [len(points(o)) for o in outlines] == [5, 3]  # 3 points -> 5 with steps; 2 -> 3
    first = points(outlines[0])
    assert first[1][1] == first[0][1] and first[1][0] == first[2][0]  # flat, then vertical
    assert "no data" in texts(parse(charts.area_chart([], [], x_label="t", y_label="v")))


def test_charts_never_use_ids_or_external_references() -> None:
    svgs = [
        charts.line_chart([charts.Series("a", [0, 1], [0, 1], low=[0, 0], high=[1, 1])], x_label="x", y_label="y"),
        charts.histogram([0.1, 0.2], x_label="p"),
        charts.scatter([charts.PointGroup("g", [0], [0])], x_label="x", y_label="y"),
        charts.heatmap(["r"], ["c"], [[1.0]], x_label="x", y_label="y", value_label="v"),
        charts.bar_chart(["a"], [charts.BarSeries("s", [1])], value_label="v"),
        charts.area_chart([0, 1], [0, -1], x_label="x", y_label="y"),
    ]
    for svg in svgs:
        parse(svg)
        assert ' id="' not in svg and "href" not in svg and "url(" not in svg
        assert svg.count("http://") == 1  # the SVG namespace only
