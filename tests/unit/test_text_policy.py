"""The prompt text policy: normalization, matching and the shipped term lists."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from imagepipe.errors import ConfigurationError
from imagepipe.moderation.text import DEFAULT_TEXT_POLICY, TextPolicy, TextVerdict, normalize
from imagepipe.moderation import text

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "prompts"
KNOWN_MISSES = "# === known misses"

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


###############################################################################
### Issue 10, point 5: obfuscation, vocabulary, and honest prompts
###############################################################################
def corpus(name: str) -> tuple[list[str], list[str]]:
    """The prompts of a corpus file, split at the known-misses marker (if any)."""
    caught: list[str] = []
    missed: list[str] = []
    target = caught
    for line in (CORPUS / f"{name}.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(KNOWN_MISSES):
            target = missed
        elif line.strip() and not line.startswith("#"):
            target.append(line)
    return caught, missed


def test_hostile_corpus_is_not_approved() -> None:
    """GIVEN the hostile corpus (look-alikes, splits, leetspeak, misspellings, inflections,
    words the old list lacked, minors near sexual words, compounds)
    WHEN each prompt is checked with the default policy
    THEN none above the known-misses marker is approved, and each known miss still is (so a
    fix moves it up). Before this change 102 of these 187 prompts were approved."""
    caught, missed = corpus("hostile")
    assert len(caught) + len(missed) >= 165
    approved = [p for p in caught if DEFAULT_TEXT_POLICY.check(p).verdict == "approve"]
    assert approved == []
    assert [p for p in missed if DEFAULT_TEXT_POLICY.check(p).verdict != "approve"] == []


def test_ordinary_corpus_is_approved() -> None:
    """GIVEN ordinary prompts that contain, split into, stem to or look like listed words
    (Scunthorpe, Sussex, Essex, Middlesex, Penistone, therapist, cocktail, analysis, a sextant,
    an assassin, grapes, pen island, corn, flame retardant, a genitive case, Cummings...)
    WHEN each is checked with the default policy
    THEN every one is approved: neither rejected nor held for review."""
    ordinary, _ = corpus("ordinary")
    assert len(ordinary) >= 100
    held = {p: DEFAULT_TEXT_POLICY.check(p) for p in ordinary}
    assert {p: v for p, v in held.items() if v.verdict != "approve"} == {}


@pytest.mark.parametrize(
    ("prompt", "term"),
    [
        ("a \u039dUDE woman", "nude"),  # Greek capital Nu
        ("\U0001f17d\U0001f184\U0001f173\U0001f174 figure", "nude"),  # negative squared letters
        ("\U0001f17f\U0001f17e\U0001f181\U0001f17d", "porn"),  # 🅿 is an emoji too
        ("\U0001f1f3\U0001f1fa\U0001f1e9\U0001f1ea beach", "nude"),  # regional indicators
        ("\u4e02\u4e47\u4e42 video", "sex"),  # CJK characters used as S E X
        ("\u2115\U0001d54c\U0001d53b\U0001d53c", "nude"),  # double-struck
    ],
)
def test_confusables_come_from_the_unicode_data(prompt: str, term: str) -> None:
    """GIVEN a term written with look-alikes the old hand map lacked
    WHEN it is checked
    THEN decancer's confusables data maps it to Latin and the term matches."""
    policy = TextPolicy(blocked=frozenset({"nude", "porn", "sex"}), review=frozenset())
    assert policy.check(prompt) == TextVerdict("reject", (term,))


@pytest.mark.parametrize(
    ("prompt", "term"),
    [("nu de", "nude"), ("nu-de", "nude"), ("nu.de", "nude"), ("po rn", "porn"), ("p o r n", "porn"),
     ("p 0 r n", "porn"), ("se x", "sex"), ("sex-ual", "sexual"), ("a photo, n u d e s", "nude")],
)
def test_split_words_are_joined(prompt: str, term: str) -> None:
    """GIVEN a term split by a space, a hyphen, a dot or between every letter
    WHEN it is checked
    THEN the pieces are joined and the term matches."""
    policy = TextPolicy(blocked=frozenset({"nude", "porn", "sex", "sexual"}), review=frozenset())
    verdict = policy.check(prompt)
    assert verdict.verdict == "reject" and term in verdict.matched


@pytest.mark.parametrize(
    "prompt",
    ["the pen is mightier than the sword", "an Al Capone poster", "Paris's ex-wife", "a pen island logo",
     "Middlesex and Essex", "an assassin", "a sextant", "a rope", "a field of corn", "a node graph"],
)
def test_ordinary_splits_and_near_misses_stay_apart(prompt: str) -> None:
    """GIVEN ordinary words that would join into a term ('pen is', 'an al', "Paris's ex") or
    differ from one by a letter ('rope', 'corn', 'node')
    WHEN they are checked against those terms
    THEN they are approved: function words are never glued and no edit distance is used."""
    policy = TextPolicy(blocked=frozenset({"penis", "anal", "sex", "rape", "porn", "nude"}), review=frozenset())
    assert policy.check(prompt) == TextVerdict("approve", ())


@pytest.mark.parametrize(
    ("prompt", "term"),
    [("pr0n", "pron"), ("p0rn", "porn"), ("s3x", "sex"), ("nvde", "nude"), ("NVDE", "nude"),
     ("n|_|de", "nude"), ("p*rn", "porn"), ("sh!t", "shit"), ("nuuuude", "nude"), ("sexxx", "sex"),
     ("nudez", "nude")],
)
def test_leetspeak_masks_and_latin_v(prompt: str, term: str) -> None:
    """GIVEN a term in leetspeak (glin-profanity's tables), masked with an asterisk, with the
    Latin V for U, a tripled letter or a z plural
    WHEN it is checked
    THEN the term matches."""
    policy = TextPolicy(blocked=frozenset({"nude", "porn", "pron", "sex", "shit"}), review=frozenset())
    assert policy.check(f"photo, {prompt}, studio") == TextVerdict("reject", (term,))


@pytest.mark.parametrize(
    ("word", "base", "matches"),
    [
        ("sexually", "sexual", True), ("molested", "molest", True), ("molesting", "molest", True),
        ("molester", "molest", True), ("genitals", "genital", True), ("raping", "rape", True),
        ("raped", "rape", True), ("orgies", "orgy", True), ("cumming", "cum", True),
        ("sexes", "sex", True), ("penises", "penis", True),
        ("genitive", "genital", False), ("retardant", "retard", False), ("heroines", "heroin", False),
        ("rapping", "rape", False), ("cocker", "cock", False), ("analysis", "anal", False),
        ("lollies", "loli", False), ("sextant", "sex", False), ("Essex", "sex", False),
    ],
)
def test_inflection_is_a_rule_not_a_list(word: str, base: str, matches: bool) -> None:
    """GIVEN a one-term policy and a word that is (or only looks like) an inflection of it
    WHEN the word is checked
    THEN it matches exactly when it is the term plus an inflectional ending with the
    Snowball stemmer's agreement: 'molested', 'sexually', 'genitals' do; 'genitive',
    'retardant', 'heroines', 'rapping', 'cocker' do not."""
    policy = TextPolicy(blocked=frozenset({base}), review=frozenset())
    assert (policy.check(f"a {word} here").verdict == "reject") is matches


def test_wildcard_terms_match_compounds() -> None:
    """GIVEN 'porn*' and '*porn'
    WHEN compounds and the bare word are checked
    THEN 'pornstar' and 'kidporn' match the wildcards, the bare word only its own term."""
    policy = TextPolicy(blocked=frozenset({"porn", "porn*", "*porn"}), review=frozenset())
    assert policy.check("a pornstar") == TextVerdict("reject", ("porn*",))
    assert policy.check("kidporn") == TextVerdict("reject", ("*porn",))
    assert policy.check("porn") == TextVerdict("reject", ("porn",))
    assert policy.check("popcorn and a unicorn").verdict == "approve"
    with pytest.raises(ValueError):
        TextPolicy(blocked=frozenset({"sex*"}), review=frozenset())  # too short to be safe


def test_minors_near_sexual_words_reject() -> None:
    """GIVEN the default policy
    WHEN a minor and a review-level sexual word are within three words of each other
    THEN the prompt is rejected; farther apart, or either alone, it is not."""
    check = DEFAULT_TEXT_POLICY.check
    assert check("a sexy schoolgirl") == TextVerdict("reject", ("schoolgirl~sexy",))
    assert check("seductive little girl").verdict == "reject"
    assert check("a toddler in lingerie").verdict == "reject"
    assert check("a schoolgirl reading in the library, and a sexy sports car parked far away").verdict == "review"
    assert check("a little girl flying a kite").verdict == "approve"


def test_curation_names_only_listed_words_and_new_words_go_to_review() -> None:
    """GIVEN glin-profanity's English list and the curated blocked and ignored sets
    WHEN the default policy is built
    THEN every curated word is on the list (the curation tracks it), the policy holds the
    list's words, and a word a newer list adds goes to review rather than blocking."""
    listed = text.listed_words()
    assert len(listed) >= 400
    assert text.LISTED_BLOCKED <= listed and text.LISTED_IGNORED <= listed
    assert not text.LISTED_BLOCKED & text.LISTED_IGNORED
    policy = DEFAULT_TEXT_POLICY
    assert listed - text.LISTED_IGNORED <= policy.blocked | policy.review
    newer = text.default_policy(listed | {"zorbled"})
    assert newer.check("a zorbled cat") == TextVerdict("review", ("zorbled",))


def test_default_terms_fit_s3_metadata() -> None:
    """GIVEN the default policy's terms (review terms become S3 metadata review reasons)
    WHEN they are inspected
    THEN each is ASCII without a comma (the reasons' separator)."""
    for term in DEFAULT_TEXT_POLICY.blocked | DEFAULT_TEXT_POLICY.review:
        assert term.isascii() and "," not in term, term


def test_a_missing_word_list_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN glin-profanity cannot be found
    WHEN the list is read
    THEN ConfigurationError is raised instead of shipping an empty lexicon."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigurationError):
        text.listed_words()


def test_blocked_near_round_trips_and_is_validated() -> None:
    """GIVEN a policy with a blocked_near pair
    WHEN it is written to a mapping and read back, or read from a malformed one
    THEN it round-trips, and a malformed pair raises ConfigurationError."""
    raw = {"blocked": [], "review": [], "negative_review": [], "blocked_near": [[["kid"], ["sexy"]]]}
    policy = TextPolicy.from_mapping(raw)
    assert policy.to_mapping() == raw
    assert policy.check("sexy kid").verdict == "reject"
    with pytest.raises(ConfigurationError):
        TextPolicy.from_mapping({"blocked_near": [["kid"]]})


def test_the_lexicon_names_itself_for_records() -> None:
    """GIVEN the default policy WHEN it is asked its name and version
    THEN it is the 'lexicon' with its term counts (what a decision record names)."""
    assert DEFAULT_TEXT_POLICY.name == "lexicon"
    assert DEFAULT_TEXT_POLICY.model_version.startswith(f"blocked={len(DEFAULT_TEXT_POLICY.blocked)};")
