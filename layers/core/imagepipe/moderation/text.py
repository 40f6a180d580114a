"""Prompt text policy: block or flag prompts before any model is called.

Matching works on whole words of a normalized form of the text, so obfuscation such as
``"NÜDE"``, ``"ｎｕｄｅ"``, ``"nսde"`` (Armenian), ``"nu\\u200bde"``, ``"n.u.d.e"`` or
``"nud3"`` still matches ``nude`` while ``"grape"``, ``"therapist"``, ``"Scunthorpe"`` and
``"analysis"`` never match ``rape``, ``cunt`` or ``anal``:

* a term matches a whole word (or a sequence of whole words), optionally with a plural
  ``s``/``es`` on its last word and with repeated letters squeezed (``nuuude``);
* a multi-word term also matches its words written together (``childporn``);
* runs of single characters (``"n u d e"``, ``"n_u-d_e"``) are collapsed into one word
  and, because the word boundaries inside such a run are unknown, a term matches
  anywhere inside it. Only deliberately spaced-out text can therefore match inside
  a word, never ordinary prose.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from imagepipe.errors import ConfigurationError
from imagepipe.moderation.policy import Verdict

# Look-alikes of Latin letters, applied after casefolding (so capitals are covered too).
_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j",
    "к": "k", "ӏ": "l", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c",
    "т": "t", "у": "y", "ў": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ь": "b", "г": "r",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "ρ": "p", "ς": "s", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    # Armenian
    "ս": "u", "օ": "o", "ո": "n", "ց": "g", "հ": "h", "զ": "q", "ւ": "l",
    # Latin letters NFKC keeps apart, including small capitals
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i", "ʀ": "r", "ʏ": "y",
    "ʙ": "b", "ʜ": "h", "ʟ": "l", "ɴ": "n", "ᴀ": "a", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e",
    "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ᴏ": "o", "ᴘ": "p", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v",
    "ᴡ": "w", "ᴢ": "z", "ꜱ": "s", "ɢ": "g", "ø": "o", "ł": "l", "đ": "d", "ħ": "h",
    "ŧ": "t", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
}  # fmt: skip
_CONFUSABLES_TABLE = str.maketrans(_CONFUSABLES)
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_TABLE = str.maketrans(_LEET)
_LEET_TABLE_1_AS_L = str.maketrans({**_LEET, "1": "l"})

# Invisible characters that are not in Unicode category Cf (which is stripped wholesale).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_TOKEN = re.compile(r"[a-z0-9@$]+")
_HAS_LETTER = re.compile(r"[a-z]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_REPEATS = re.compile(r"(.)\1+")


@dataclass(frozen=True)
class _Word:
    text: str
    squeezed: str
    is_run: bool


@dataclass(frozen=True)
class _Term:
    original: str
    words: tuple[str, ...]
    joined: str


def normalize(text: str) -> str:
    """Return the canonical, lower-case, word-separated form of ``text``.

    NFKC, casefold, zero-width and other format characters removed, accents and
    combining marks stripped, common Cyrillic/Greek/Armenian look-alikes mapped to Latin,
    leetspeak mapped inside words that contain a letter (``0 1 3 4 5 7 @ $`` ->
    ``o i e a s t a s``; numbers alone are left intact), punctuation turned into word
    breaks and runs of single characters joined (``"n.u.d.e"`` -> ``"nude"``).

    Parameters
    ----------
    text : str
        Any user text.

    Returns
    -------
    str
        Words of ``[a-z0-9@$]`` separated by single spaces.
    """
    return " ".join(word.text for word in _words(text, camel_split=False, leet=_LEET_TABLE))


@dataclass(frozen=True)
class TextVerdict:
    """The text policy's answer for one prompt.

    ``matched`` lists the configured terms behind the verdict: the blocked terms for a
    rejection, otherwise the review terms (negative-prompt hits are prefixed with
    ``"negative:"``).
    """

    verdict: Verdict
    matched: tuple[str, ...]


@dataclass(frozen=True)
class TextPolicy:
    """Blocked and review terms for generation prompts.

    Parameters
    ----------
    blocked : frozenset of str
        Terms that reject a prompt. Multi-word terms are allowed.
    review : frozenset of str
        Terms that send the generated image to human review.
    negative_review : frozenset of str
        Terms that send the image to review when they appear in the *negative* prompt,
        where they would steer the model away from something (``"clothes"``).

    Notes
    -----
    The negative prompt lists what the image must *not* show, so it is never scanned for
    ``blocked`` or ``review`` terms: ``"gore, blood"`` as a negative prompt is fine.
    """

    blocked: frozenset[str]
    review: frozenset[str]
    negative_review: frozenset[str] = frozenset()
    _compiled: tuple[tuple[_Term, ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        compiled = []
        for name in ("blocked", "review", "negative_review"):
            terms = getattr(self, name)
            if isinstance(terms, str) or not isinstance(terms, Iterable):
                raise ValueError(f"{name} must be a collection of strings")
            terms = frozenset(terms)
            object.__setattr__(self, name, terms)
            compiled.append(tuple(_compile_term(term) for term in sorted(terms, key=str)))
        object.__setattr__(self, "_compiled", tuple(compiled))

    def check(self, prompt: str, negative_prompt: str | None = None) -> TextVerdict:
        """Check a generation request's text.

        Parameters
        ----------
        prompt : str
            Scanned for blocked and review terms.
        negative_prompt : str, optional
            Scanned only for ``negative_review`` terms (see the class notes).

        Returns
        -------
        TextVerdict
            ``reject`` if a blocked term matches, else ``review`` if a review term
            matches, else ``approve``.
        """
        blocked, review, negative_review = self._compiled
        views = _views(prompt)
        hits = _hits(blocked, views)
        if hits:
            return TextVerdict(verdict="reject", matched=hits)
        hits = _hits(review, views)
        if negative_prompt:
            hits += tuple(f"negative:{t}" for t in _hits(negative_review, _views(negative_prompt)))
        if hits:
            return TextVerdict(verdict="review", matched=hits)
        return TextVerdict(verdict="approve", matched=())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TextPolicy:
        """Build a policy from JSON-like config.

        Parameters
        ----------
        data : Mapping
            ``{"blocked": [...], "review": [...], "negative_review": [...]}``; every key
            is optional and nothing is merged with ``DEFAULT_TEXT_POLICY``.

        Raises
        ------
        ConfigurationError
            On unknown keys, non-string terms or terms with no letters or digits.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"text policy must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {"blocked", "review", "negative_review"}
        if unknown:
            raise ConfigurationError(f"unknown text policy keys: {sorted(unknown)}")
        lists: dict[str, frozenset[str]] = {}
        for key in ("blocked", "review", "negative_review"):
            raw = data.get(key, [])
            if isinstance(raw, str) or not isinstance(raw, (list, tuple, set, frozenset)):
                raise ConfigurationError(f"text policy {key!r} must be a list of strings")
            if not all(isinstance(term, str) for term in raw):
                raise ConfigurationError(f"text policy {key!r} must contain only strings")
            lists[key] = frozenset(raw)
        try:
            return cls(**lists)
        except ValueError as exc:
            raise ConfigurationError(f"invalid text policy: {exc}") from exc

    def to_mapping(self) -> dict[str, list[str]]:
        """Return the policy in the shape ``from_mapping`` reads."""
        return {
            "blocked": sorted(self.blocked),
            "review": sorted(self.review),
            "negative_review": sorted(self.negative_review),
        }


def _clean(text: str, *, camel_split: bool) -> str:
    text = "".join(
        ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in _INVISIBLE
    )
    text = unicodedata.normalize("NFKC", text)
    if camel_split:
        text = _CAMEL.sub(" ", text)
    text = unicodedata.normalize("NFD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))
    # NFKC again: casefolding and mark stripping can expose new compatibility forms.
    return unicodedata.normalize("NFKC", text).translate(_CONFUSABLES_TABLE)


def _words(text: str, *, camel_split: bool, leet: dict[int, str]) -> tuple[_Word, ...]:
    tokens = _TOKEN.findall(_clean(text, camel_split=camel_split))
    grouped: list[tuple[str, bool]] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        if len(run) >= 2:
            grouped.append(("".join(run), True))
        elif run:
            grouped.append((run[0], False))
        run = []
        if token:
            grouped.append((token, False))
    words = []
    for token, is_run in grouped:
        if _HAS_LETTER.search(token):
            token = token.translate(leet)
        words.append(_Word(text=token, squeezed=_REPEATS.sub(r"\1", token), is_run=is_run))
    return tuple(words)


def _views(text: str) -> tuple[tuple[_Word, ...], ...]:
    variants = [(False, _LEET_TABLE), (True, _LEET_TABLE)]
    if "1" in text:
        variants += [(False, _LEET_TABLE_1_AS_L), (True, _LEET_TABLE_1_AS_L)]
    views: list[tuple[_Word, ...]] = []
    for camel_split, leet in variants:
        if camel_split and not _CAMEL.search(text):
            continue
        view = _words(text, camel_split=camel_split, leet=leet)
        if view not in views:
            views.append(view)
    return tuple(views)


def _compile_term(term: str) -> _Term:
    if not isinstance(term, str):
        raise ValueError(f"terms must be strings, got {term!r}")
    words = tuple(
        token.translate(_LEET_TABLE) if _HAS_LETTER.search(token) else token
        for token in _TOKEN.findall(_clean(term, camel_split=False))
    )
    if not words:
        raise ValueError(f"term {term!r} has no letters or digits")
    return _Term(original=term, words=words, joined="".join(words))


def _word_is(word: _Word, target: str, *, allow_plural: bool) -> bool:
    for candidate in (word.text, word.squeezed):
        if candidate == target:
            return True
        if allow_plural and candidate in (target + "s", target + "es"):
            return True
    return False


def _matches(term: _Term, view: tuple[_Word, ...]) -> bool:
    n = len(term.words)
    for start in range(len(view) - n + 1):
        if all(
            _word_is(view[start + i], term.words[i], allow_plural=i == n - 1) for i in range(n)
        ):
            return True
    for word in view:
        if word.is_run and (term.joined in word.text or term.joined in word.squeezed):
            return True
        if n > 1 and _word_is(word, term.joined, allow_plural=True):
            return True
    return False


def _hits(terms: tuple[_Term, ...], views: tuple[tuple[_Word, ...], ...]) -> tuple[str, ...]:
    return tuple(term.original for term in terms if any(_matches(term, v) for v in views))


# Kept deliberately short and unambiguous: every blocked term must be something no
# legitimate prompt needs. Ambiguous words ("naked" as in "naked eye", "gore" as in
# "Al Gore", "blood") only send the image to review, where the image moderation and a
# human decide.
DEFAULT_TEXT_POLICY = TextPolicy(
    blocked=frozenset(
        {
            # sexual content
            "nude", "nudity", "porn", "porno", "pornographic", "pornography", "nsfw",
            "hentai", "sex", "sexual intercourse", "erotic", "topless", "genitals",
            "genitalia", "naked woman", "naked women", "naked man", "naked men",
            "naked girl", "naked boy", "naked body", "bestiality", "incest",
            "rape", "raped", "raping",
            # minors in a sexual context
            "child porn", "child pornography", "csam", "jailbait", "loli", "lolicon",
            "shotacon", "naked child", "sexy child", "sexy kid", "sexy minor", "sexy teen",
            "underage sex",
            # extreme gore (single words such as "beheading" also name classical paintings
            # and only go to review)
            "extreme gore", "graphic gore", "disemboweled", "disembowelment",
            "mutilated body", "mutilated corpse", "dismembered body", "dismembered corpse",
        }
    ),  # fmt: skip
    review=frozenset(
        {
            # violence and weapons
            "weapon", "gun", "shotgun", "rifle", "pistol", "firearm", "knife", "bomb",
            "blood", "bloody", "gore", "corpse", "dead body", "violence", "violent",
            "murder", "terrorist", "suicide", "self harm", "decapitated", "beheading",
            "dismembered", "severed head",
            # suggestive
            "naked", "sexy", "seductive", "sensual", "lingerie", "underwear", "bikini",
            "cleavage", "xxx",
            # drugs
            "drugs", "cocaine", "heroin",
            # hate symbols
            "nazi", "swastika", "kkk",
            # real people
            "politician", "president", "prime minister", "celebrity",
        }
    ),  # fmt: skip
    negative_review=frozenset(
        {
            "clothes", "clothing", "clothed", "dressed", "underwear", "swimsuit", "bikini",
            "censored", "sfw", "safe for work",
        }
    ),  # fmt: skip
)
