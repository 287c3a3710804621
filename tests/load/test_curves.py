"""Curves: reading, errors with file:line, rate_at, compression, bundled sources."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.curves import CurveError, LoadShape, bundled_curves, parse_time, rate_at, read_curve


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_parse_time_forms():
    assert parse_time("90") == 90
    assert parse_time("12.5") == 12.5
    assert parse_time("01:30") == 5400
    assert parse_time("24:00:26") == 86426
    assert parse_time("00:00:01.5") == 1.5
    with pytest.raises(ValueError):
        parse_time("1:75")


def test_read_curve_header_comments_and_hms(tmp_path):
    p = write(tmp_path, "# a comment\ntime,load\n00:00,1  # inline\n\n00:01:00,3\n120,2\n")
    assert read_curve(p) == [(0.0, 1.0), (60.0, 3.0), (120.0, 2.0)]


@pytest.mark.parametrize("text,line,needle", [
    ("time,load\n0,1\nabc,2\n", 3, "neither seconds"),
    ("0,1\n10,x\n", 2, "not a number"),
    ("0,1\n10,-1\n", 2, ">= 0"),
    ("0,1\n10,2\n5,3\n", 3, "backwards"),
    ("0,1,2\n", 1, "expected 'time,load'"),
    ("# only comments\n", 0, "no points"),
])
def test_read_curve_errors_name_the_line(tmp_path, text, line, needle):
    p = write(tmp_path, text)
    with pytest.raises(CurveError) as ei:
        read_curve(p)
    assert isinstance(ei.value, ValueError)
    assert ei.value.line == line and ei.value.path == p
    assert needle in str(ei.value) and f"{p}:{line}:" in str(ei.value)


def test_rate_at_interpolates_and_scales_to_peak():
    pts = [(0, 1), (10, 5), (20, 5)]
    assert rate_at(0, pts, 20, 100) == pytest.approx(20)
    assert rate_at(5, pts, 20, 100) == pytest.approx(60)
    assert rate_at(15, pts, 20, 100) == pytest.approx(100)
    assert rate_at(20, pts, 20, 100) == 0      # the run is over
    assert rate_at(-1, pts, 20, 100) == 0


def test_compression_plays_the_span_within_duration():
    pts = [(0, 0), (86400, 10)]                 # a day, linear
    s = LoadShape.of(pts, duration_s=360, peak_rps=50, compress_s=86400)
    assert s.speed == 240
    assert s.curve_time(180) == 43200
    assert s.rate_at(180) == pytest.approx(25)
    # compress less than the span: the first hour of the curve within the run
    s2 = LoadShape.of(pts, duration_s=60, peak_rps=50, compress_s=3600)
    assert s2.rate_at(30) == pytest.approx(50 * 1800 / 86400)


def test_no_compress_holds_last_value():
    s = LoadShape.of([(100, 2), (110, 4)], duration_s=30, peak_rps=8)
    assert s.rate_at(0) == pytest.approx(4)     # curve starts at its first point
    assert s.rate_at(25) == pytest.approx(8)    # past the last point: flat


def test_expected_arrivals_is_the_integral():
    s = LoadShape.of([(0, 0), (10, 10)], duration_s=10, peak_rps=10)
    assert s.expected_arrivals(0, 10) == pytest.approx(50)
    assert s.expected_arrivals(0, 1) == pytest.approx(0.5)
    tgt = s.target_per_second()
    assert len(tgt) == 10 and tgt[9] == [9.0, pytest.approx(9.5)]


def test_bundled_curves_present_and_sourced():
    curves = bundled_curves()
    assert {"singles_day", "singles_day_midnight", "six18", "spring_festival_eve",
            "business_day"} <= curves.keys()
    for name, path in curves.items():
        text = path.read_text(encoding="utf-8")
        assert "Source" in text or "source" in text or "Modelled" in text, name
        assert len(read_curve(path)) >= 5


def test_singles_day_follows_the_published_milestones():
    """2018: 1 bn by 00:00:21, 10 bn by 00:02:05, 100 bn by 01:47:37, 213.5 bn in the day;
    2020: peak 26 s after midnight. The curve's integrals keep those within ~15 %."""
    pts = read_curve(bundled_curves()["singles_day"])
    s = LoadShape.of(pts, duration_s=pts[-1][0] - pts[0][0], peak_rps=1.0)
    midnight = 86400 - pts[0][0]
    scale = 110.0                    # the file's maximum, in CNY m/s
    gmv = lambda a, b: s.expected_arrivals(midnight + a, midnight + b) * scale / 1000  # noqa: E731 - bn
    assert gmv(0, 21) == pytest.approx(1, rel=0.2)
    assert gmv(0, 125) == pytest.approx(10, rel=0.15)
    assert gmv(0, 6457) == pytest.approx(100, rel=0.1)
    assert gmv(0, 86400) == pytest.approx(213.5, rel=0.1)
    peak_t = max(pts, key=lambda p: p[1])[0]
    assert peak_t - 86400 == 26
    # the ramp: from the pre-midnight level to the peak within 26 s, ~100x
    assert s.rel_at(86400 + 26) / s.rel_at(86400 - 5) > 50
