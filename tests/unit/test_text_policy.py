"""The prompt text policy: normalization, matching and the shipped term lists."""

from __future__ import annotations

import pytest

from imagepipe.errors import ConfigurationError
from imagepipe.moderation import DEFAULT_TEXT_POLICY, TextPolicy, TextVerdict, normalize

STRICT = TextPolicy(
    blocked=frozenset({"rape", "cunt", "anal", "nude", "child porn"}),
    review=frozenset({"weapon"}),
)


def test_demo_prompts() -> None:
    """GIVEN the default policy
    WHEN the three demo prompts are checked
    THEN 'nude' rejects, 'weapon' needs review and the lake is approved."""
    check = DEFAULT_TEXT_POLICY.check
    assert check("a nude figure on a beach") == TextVerdict("reject", ("nude",))
    assert check("a knight holding a weapon") == TextVerdict("review", ("weapon",))
    assert check("a calm mountain lake at sunrise") == TextVerdict("approve", ())


@pytest.mark.parametrize(
    "prompt",
    [
        "NUDE",
        "Nude",
        "ｎｕｄｅ",  # fullwidth
        "𝐧𝐮𝐝𝐞",  # mathematical bold
        "n\u057dde",  # Armenian small letter seh for u
        "\u0578ude",  # Armenian vo for n
        "nud\u0435",  # Cyrillic ie
        "n\u03c5de",  # Greek upsilon
        "n\u200du\u200bd\ufeffe",  # zero-width joiner/space, BOM
        "n\u0336u\u0336d\u0336e\u0336",  # combining strikethrough
        "nüdé",
        "n u d e",
        "n.u.d.e",
        "n_u-d_e",
        "a n u d e woman",
        "nud3",
        "\u043f\u03c5\u0501\u0435",  # Cyrillic pe, Greek upsilon, Cyrillic komi de and ie
        "NUD3S",
        "nuuuude",
        "nudes",
        "NudeWoman",
        "nUdE",
    ],
)
def test_obfuscated_blocked_terms_still_match(prompt: str) -> None:
    """GIVEN a prompt hiding 'nude' with case, width, look-alikes, invisible characters,
    combining marks, spacing, punctuation, leetspeak, repeats, plurals or CamelCase
    WHEN it is checked
    THEN it is rejected with 'nude' as the match."""
    assert STRICT.check(f"photo, {prompt}, studio light") == TextVerdict("reject", ("nude",))


@pytest.mark.parametrize(
    "prompt",
    [
        "a bunch of grapes and a grape vine",
        "portrait of a therapist in her office",
        "the town of Scunthorpe at dusk",
        "a data analysis dashboard, analyst at work",
        "a canal with drapes on the windows",
        "Sussex and Essex countryside",
        "Paris's ex-wife walking a dog",
        "1024x768 wallpaper of 5 cats",
        "an A B test chart",
    ],
)
def test_no_false_positives_across_word_boundaries(prompt: str) -> None:
    """GIVEN ordinary prompts whose words contain blocked terms as substrings
    (grape/rape, therapist/rapist, Scunthorpe, analysis/anal...)
    WHEN they are checked against blocked terms
    THEN they are approved: matching is on whole words only."""
    assert STRICT.check(prompt) == TextVerdict("approve", ())
    assert DEFAULT_TEXT_POLICY.check(prompt).verdict == "approve"


def test_multiword_terms_match_spaced_hyphenated_or_joined() -> None:
    """GIVEN the multi-word blocked term 'child porn'
    WHEN it is written with spaces, a hyphen, joined, or letter by letter
    THEN every form is rejected, while 'child' alone is not."""
    for prompt in ("child porn", "child-porn", "childporn", "c h i l d p o r n"):
        assert "child porn" in STRICT.check(prompt).matched
    assert STRICT.check("a child playing").verdict == "approve"


def test_review_terms_and_matched_lists() -> None:
    """GIVEN a prompt with several review terms and no blocked term
    WHEN it is checked with the default policy
    THEN the verdict is review and every matched term is listed, sorted."""
    verdict = DEFAULT_TEXT_POLICY.check("the president holding guns, blood on the floor")
    assert verdict == TextVerdict("review", ("blood", "gun", "president"))


def test_blocked_term_wins_over_review_terms() -> None:
    """GIVEN a prompt with both a blocked and a review term
    WHEN it is checked
    THEN it is rejected and only the blocked term is reported."""
    assert STRICT.check("nude with a weapon") == TextVerdict("reject", ("nude",))


def test_negative_prompt_is_not_scanned_for_blocked_or_review_terms() -> None:
    """GIVEN a clean prompt and a negative prompt full of blocked and review terms
    WHEN it is checked
    THEN it is approved: the negative prompt lists what must NOT appear."""
    verdict = DEFAULT_TEXT_POLICY.check("a calm mountain lake", "nude, gore, blood, weapon, nsfw")
    assert verdict == TextVerdict("approve", ())


def test_negative_prompt_steering_away_from_clothes_needs_review() -> None:
    """GIVEN a negative prompt that removes clothing ('clothes')
    WHEN it is checked with the default policy
    THEN the image goes to review, reported as a negative-prompt match."""
    verdict = DEFAULT_TEXT_POLICY.check("a woman on a beach", "clothes, blurry")
    assert verdict == TextVerdict("review", ("negative:clothes",))


def test_ambiguous_words_only_review_in_default_policy() -> None:
    """GIVEN prompts with ambiguous words ('naked eye', 'Al Gore', a painting's title)
    WHEN they are checked with the default policy
    THEN they go to review rather than being rejected, unlike unambiguous gore."""
    assert DEFAULT_TEXT_POLICY.check("stars visible to the naked eye").verdict == "review"
    assert DEFAULT_TEXT_POLICY.check("Al Gore giving a speech").verdict == "review"
    assert DEFAULT_TEXT_POLICY.check("Judith beheading Holofernes").verdict == "review"
    assert DEFAULT_TEXT_POLICY.check("a mutilated corpse, extreme gore").verdict == "reject"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("N.U.D.E", "nude"),
        ("Ｈｅｌｌｏ  Ｗｏｒｌｄ!", "hello world"),
        ("grape juice", "grape juice"),
        ("a n u d e", "anude"),
        ("s3x p0rn 1024", "sex porn 1024"),
        ("cafe\u0301 au lait", "cafe au lait"),
        ("\u0440\u043e\u0440\u0441\u043e\u0440\u043d", "popcoph"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    """GIVEN raw text
    WHEN it is normalized
    THEN width, case, accents, look-alikes, leetspeak (in words) and spaced letters are
    canonicalized, while numbers alone stay numbers."""
    assert normalize(text) == expected


def test_from_mapping_and_round_trip() -> None:
    """GIVEN a JSON text policy
    WHEN it is loaded and written back
    THEN it behaves as configured and to_mapping reproduces it."""
    raw = {"blocked": ["gore"], "review": ["knife"], "negative_review": ["clothes"]}
    policy = TextPolicy.from_mapping(raw)
    assert policy.check("gore").verdict == "reject"
    assert policy.check("knives").verdict == "approve"
    assert policy.check("a knife").verdict == "review"
    assert policy.to_mapping() == raw
    assert TextPolicy.from_mapping(DEFAULT_TEXT_POLICY.to_mapping()) == DEFAULT_TEXT_POLICY


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"blocked": "nude"},
        {"blocked": [1]},
        {"blocked": ["..."]},
        {"allowed": ["x"]},
    ],
)
def test_from_mapping_rejects_invalid_config(raw: object) -> None:
    """GIVEN a malformed text policy (not a mapping, a bare string, non-strings,
    a term without letters, an unknown key)
    WHEN it is loaded
    THEN ConfigurationError is raised."""
    with pytest.raises(ConfigurationError):
        TextPolicy.from_mapping(raw)  # type: ignore[arg-type]


def test_long_prompt_is_fast_enough() -> None:
    """GIVEN a maximal 1024-character prompt made of single letters and digits
    WHEN it is checked with the default policy
    THEN it completes (the matcher has no pathological backtracking)."""
    prompt = ("a 1 " * 256)[:1024]
    assert DEFAULT_TEXT_POLICY.check(prompt).verdict == "approve"
