"""Settings from the environment: the derivative ladder's variables and how bad values are reported."""

from __future__ import annotations

import pytest

from imagepipe.config import Settings
from imagepipe.errors import ConfigurationError
from imagepipe.imaging.engine import EngineSettings


def test_unset_or_empty_ladder_variables_keep_todays_engine() -> None:
    """GIVEN no ladder variables, or empty ones THEN the engine is the default one (widths 320..1920,
    AVIF/WebP/JPEG, targets 70) with the deployment's pixel limit."""
    for environ in ({}, {"DERIVATIVE_WIDTHS": "", "DERIVATIVE_FORMATS": "", "QUALITY_TARGET": ""}):
        settings = Settings.from_environ(environ)
        assert settings.engine_settings() == EngineSettings(max_pixels=settings.max_pixels)


def test_configured_widths_formats_and_target_reach_the_engine() -> None:
    """GIVEN widths, formats (PNG included, spaces tolerated) and a quality target THEN the engine
    derives those widths and formats, in that order, and every lossy format aims at the target."""
    settings = Settings.from_environ({
        "DERIVATIVE_WIDTHS": "480, 1080,2160",
        "DERIVATIVE_FORMATS": "webp,png , jpeg",
        "QUALITY_TARGET": "62.5",
        "MAX_PIXELS": "1000000",
    })
    engine = settings.engine_settings()
    assert engine.widths == (480, 1080, 2160)
    assert engine.formats == ("webp", "png", "jpeg")
    assert (engine.avif_target, engine.webp_target, engine.jpeg_target) == (62.5, 62.5, 62.5)
    assert engine.target_for("png") is None and engine.max_pixels == 1_000_000


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DERIVATIVE_WIDTHS", "abc", "DERIVATIVE_WIDTHS must be positive integers, got 'abc'"),
        ("DERIVATIVE_WIDTHS", "320,0", "DERIVATIVE_WIDTHS must be positive integers, got '320,0'"),
        ("DERIVATIVE_WIDTHS", "320,-640", "DERIVATIVE_WIDTHS must be positive integers, got '320,-640'"),
        ("DERIVATIVE_WIDTHS", "320.5", "DERIVATIVE_WIDTHS must be positive integers, got '320.5'"),
        ("DERIVATIVE_WIDTHS", ",", "DERIVATIVE_WIDTHS must be positive integers, got ','"),
        ("DERIVATIVE_FORMATS", "avif,gif",
         "DERIVATIVE_FORMATS must be distinct names among avif, webp, jpeg, png, got 'avif,gif'"),
        ("DERIVATIVE_FORMATS", "AVIF",
         "DERIVATIVE_FORMATS must be distinct names among avif, webp, jpeg, png, got 'AVIF'"),
        ("DERIVATIVE_FORMATS", "webp,webp",
         "DERIVATIVE_FORMATS must be distinct names among avif, webp, jpeg, png, got 'webp,webp'"),
        ("QUALITY_TARGET", "high", "QUALITY_TARGET must be a number from 30 to 90, got 'high'"),
        ("QUALITY_TARGET", "95", "QUALITY_TARGET must be a number from 30 to 90, got '95'"),
        ("QUALITY_TARGET", "nan", "QUALITY_TARGET must be a number from 30 to 90, got 'nan'"),
    ],
)
def test_a_bad_ladder_value_is_a_configuration_error_naming_the_variable(name: str, value: str, message: str) -> None:
    """GIVEN a bad value in one ladder variable THEN reading the environment (the cold start) fails
    with a ConfigurationError that names the variable and quotes the value."""
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environ({name: value})
    assert str(raised.value) == message


def test_other_bad_values_name_their_variable_too() -> None:
    """GIVEN a non-numeric MAX_PIXELS THEN the error names the variable and quotes the value."""
    with pytest.raises(ConfigurationError, match=r"^MAX_PIXELS: .*integer.*, got 'many'$"):
        Settings.from_environ({"MAX_PIXELS": "many"})
