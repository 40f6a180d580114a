"""Prompt text policy (the lexicon): block or flag prompts before any model is called.

The lexicon is the offline default and the first line of prompt moderation; a backend
that reads meaning (``prompt_backends.py``) may run after it. It matches whole words of
normalized forms ("views") of the text, so obfuscation still matches while ordinary words
that merely contain a term (``"grape"``, ``"therapist"``, ``"Scunthorpe"``, ``"Sussex"``,
``"analysis"``, ``"cocktail"``, ``"sextant"``) never do:

* look-alike characters: the Unicode confusables data through ``decancer`` (Greek capital
  Nu in ``"ΝUDE"``, enclosed letters ``"🅽🆄🅳🅴"``, fullwidth, mathematical, Cyrillic and
  Armenian look-alikes, accents, combining marks), after invisible characters are removed;
* leetspeak: ``glin-profanity``'s substitution tables inside words (``"s3x"``, ``"p0rn"``,
  ``"sh!t"``; aggressive patterns such as ``"n|_|de"`` in a view of their own), the
  ambiguous ``1``/``|``/``!`` read as ``l`` too, and the Latin ``V`` for ``U`` (``"nvde"``);
* inflection: a word matches a term when it is the term plus an inflectional ending
  (``-s -ed -ing -er -ly``; ``-es`` after a sibilant or ``o``; with the e-drop, y-to-i and
  doubled-consonant spellings)
  *and* the Snowball English stemmer gives both the same stem: ``"sexually"``,
  ``"molested"``, ``"genitals"``, ``"raping"``, but not ``"genitive"`` or ``"retardant"``;
* splitting: runs of single characters (``"n u d e"``, ``"p.o.r.n"``) are joined and a term
  may match anywhere inside them; the pieces of a word split by punctuation
  (``"nu-de"``, ``"nu.de"``) are joined; short fragments split by spaces (``"nu de"``,
  ``"po rn"``) are joined unless one is an ordinary short word (so ``"pen is"``,
  ``"an al"`` and ``"Paris's ex-wife"`` stay apart); a joined form must equal a term;
* letters repeated three times or more squeezed (``"nuuude"``, ``"sexxx"``); ``CamelCase``
  split in a view of its own;
* masked letters: ``"p*rn"`` matches a one-word term with any letter for each asterisk;
* wildcard terms: ``"porn*"`` matches ``"pornstar"``, ``"*porn"`` matches ``"kidporn"``;
* proximity: ``blocked_near`` pairs two term groups (minors, sexual words) that reject a
  prompt when they occur within ``NEAR_WINDOW`` words of each other (``"sexy schoolgirl"``).

The default vocabulary is glin-profanity's English list (the LDNOOBW list, maintained
upstream) curated here: unambiguous sexual terms block, words whose ordinary sense
dominates are ignored, and every other listed word sends the image to review; a few
terms the list lacks are added.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import decancer_py
import snowballstemmer
from glin_profanity import normalize_leetspeak

from imagepipe.errors import ConfigurationError
from imagepipe.moderation.policy import Verdict

LEXICON_NAME = "lexicon"
NEAR_WINDOW = 3
"""Most words between two ``blocked_near`` matches (``"a young girl, nude"`` is within it)."""

_LeetLevel = Literal["moderate", "aggressive"]

# Invisible characters that are not in Unicode category Cf (which is stripped wholesale).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_APOSTROPHES = re.compile(r"['`\u00b4\u2018\u2019\u02bc]")
_CHUNK_EDGES = re.compile(r"^[^a-z0-9@$]+|[^a-z0-9]+$")
_PIECE = re.compile(r"[a-z0-9]+")
_HAS_LETTER = re.compile(r"[a-z]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_ALL_REPEATS = re.compile(r"(.)\1+")
_LONG_REPEATS = re.compile(r"(.)\1{2,}")
_MASKED = re.compile(r"[a-z0-9]+(?:\*+[a-z0-9]+)+")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]")
_EMOJI = re.compile(r"[\u2600-\u27bf\U0001f000-\U0001faff]")
_KEEP_CJK = {"retain_chinese": True, "retain_japanese": True, "retain_korean": True}

# Short words that are never glued to their neighbours ("pen is", "an al", "a ss", "t it").
# Grammar, not vocabulary: the fragments an honest prompt is made of.
_FUNCTION_WORDS = frozenset(
    "a i am an as at be by do go he if in is it me my no of oh ok on or so to up us we ex "
    "al mr ms dr st vs the and are but can did for had has her him his how its may not now "
    "our out she too two was who why yes you all any few new old one own per via".split()
)
_SHORT_FRAGMENT = 3  # longest piece a space-split join may glue
_MAX_JOINED_PIECES = 4

# Inflectional endings a term may carry (checked together with the stemmer).
_ENDINGS = frozenset({"s", "ed", "d", "ing", "er", "ers", "ly"})
_ES_AFTER = ("s", "x", "z", "ch", "sh", "o")  # sexes, penises; not heroin -> heroines
_DOUBLED_ENDINGS = frozenset({"ed", "ing", "er", "ers"})
_E_DROP_ENDINGS = frozenset({"ing", "ed", "er", "ers"})
_Y_ENDINGS = frozenset({"ies", "ied", "ier", "iers", "ily"})
_VOWELS = frozenset("aeiou")
_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def _inflects(word: str, base: str) -> bool:
    """Whether ``word`` is ``base`` or ``base`` with an inflectional ending, same stem."""
    if word == base:
        return True
    if word.endswith("z") and _inflects(word[:-1] + "s", base):
        return True  # the leet plural: nudez
    if len(word) <= len(base) or _stem(word) not in (_stem(base), base):
        return False
    if word.startswith(base):
        ending = word[len(base) :]
        if ending in _ENDINGS or (ending == "es" and base.endswith(_ES_AFTER)):
            return True
        # doubled final consonant: cum -> cumming
        last = base[-1]
        return last not in _VOWELS and ending[0] == last and ending[1:] in _DOUBLED_ENDINGS
    if base.endswith("e") and word.startswith(base[:-1]):
        return word[len(base) - 1 :] in _E_DROP_ENDINGS  # rape -> raping
    if base.endswith("y") and word.startswith(base[:-1]):
        return word[len(base) - 1 :] in _Y_ENDINGS  # orgy -> orgies
    return False


def _squeezed(word: str) -> tuple[str, ...]:
    """``word``, and if a letter repeats three times or more, its runs cut to two and to one.

    Doubled letters are ordinary spelling ("seem", "riffle", "lollies"): squeezing them would
    match ``"s&m"``, ``"rifle"`` or ``"loli"``. A tripled letter is obfuscation ("nuuude").
    """
    if not _LONG_REPEATS.search(word):
        return (word,)
    forms = [word]
    for pattern, repl in ((_LONG_REPEATS, r"\1\1"), (_ALL_REPEATS, r"\1")):
        form = pattern.sub(repl, word)
        if form not in forms:
            forms.append(form)
    return tuple(forms)


@dataclass(frozen=True)
class _ViewSpec:
    camel_split: bool = False
    keep_cjk: bool = True
    leet: _LeetLevel = "moderate"
    ambiguous_as_l: bool = False
    v_as_u: bool = False
    keep_emoji: bool = True


_BASE_VIEW = _ViewSpec()


@dataclass(frozen=True)
class _Candidate:
    """One word-like thing of a view: a word, a run of single characters, or a join."""

    forms: tuple[str, ...]  # the text and its squeezed forms
    position: int  # index of its first word in the view
    kind: Literal["word", "run", "join", "masked"] = "word"


@dataclass(frozen=True)
class _View:
    words: tuple[tuple[str, ...], ...]  # forms of each word, in order
    candidates: tuple[_Candidate, ...]


def _clean(text: str, spec: _ViewSpec) -> str:
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" and ch not in _INVISIBLE)
    text = unicodedata.normalize("NFKC", text)
    if spec.camel_split:
        text = _CAMEL.sub(" ", text)
    options = _KEEP_CJK if spec.keep_cjk else {}
    text = str(decancer_py.parse(text, retain_emojis=spec.keep_emoji, **options))
    return _APOSTROPHES.sub("", text)


def _leet(text: str, spec: _ViewSpec) -> str:
    text = normalize_leetspeak(
        text,
        level=spec.leet,
        collapse_repeated=False,
        remove_spaced_chars=False,
        ambiguous_as_l=spec.ambiguous_as_l,
    )
    return text.replace("v", "u") if spec.v_as_u else text


def _chunks(text: str, spec: _ViewSpec) -> list[str]:
    """The whitespace-separated chunks of cleaned ``text``, leetspeak mapped in words."""
    chunks = []
    for chunk in _clean(text, spec).split():
        if spec.leet != "aggressive":  # aggressive patterns may start with "|" or "/"
            chunk = _CHUNK_EDGES.sub("", chunk)
        chunks.append(_leet(chunk, spec) if _HAS_LETTER.search(chunk) else chunk)
    return chunks


def _chunk_pieces(text: str, spec: _ViewSpec) -> list[list[str]]:
    """Each chunk of ``text`` (see ``_chunks``) as its ``[a-z0-9]`` pieces."""
    return [pieces for pieces in (_PIECE.findall(chunk) for chunk in _chunks(text, spec)) if pieces]


def _view(text: str, spec: _ViewSpec) -> _View:
    raw_chunks = _chunks(text, spec)
    chunks = [pieces for pieces in (_PIECE.findall(chunk) for chunk in raw_chunks) if pieces]
    flat = [(piece, index) for index, pieces in enumerate(chunks) for piece in pieces]
    # Runs of single characters become one word ("n u d e", "n.u.d.e", "n_u-d_e").
    grouped: list[tuple[str, bool, int, int]] = []  # text, is_run, first chunk, last chunk
    run: list[tuple[str, int]] = []
    for piece, chunk in [*flat, ("", -1)]:
        if len(piece) == 1:
            run.append((piece, chunk))
            continue
        if len(run) >= 2:
            joined = "".join(p for p, _ in run)  # leetspeak across the run: "p 0 r n"
            joined = _leet(joined, spec) if _HAS_LETTER.search(joined) else joined
            grouped.append((joined, True, run[0][1], run[-1][1]))
        elif run:
            grouped.append((run[0][0], False, run[0][1], run[0][1]))
        run = []
        if piece:
            grouped.append((piece, False, chunk, chunk))
    words = tuple(_squeezed(text) for text, _, _, _ in grouped)
    candidates = [
        _Candidate(forms, position, "run" if is_run else "word")
        for position, (forms, (_, is_run, _, _)) in enumerate(zip(words, grouped, strict=True))
    ]
    for start in range(len(grouped)):
        for size in range(2, _MAX_JOINED_PIECES + 1):
            pieces = grouped[start : start + size]
            if len(pieces) < size:
                break
            same_chunk = pieces[0][2] == pieces[-1][3]
            short = all(
                len(p) <= _SHORT_FRAGMENT and p not in _FUNCTION_WORDS and _HAS_LETTER.search(p)
                for p, _, _, _ in pieces
            )
            if same_chunk or short:
                candidates.append(_Candidate(_squeezed("".join(p for p, _, _, _ in pieces)), start, "join"))
    # Letters masked by asterisks ("p*rn"): matched as a pattern against the terms.
    for chunk in raw_chunks:
        masked = _CHUNK_EDGES.sub("", chunk)
        if _MASKED.fullmatch(masked):
            candidates.append(_Candidate((masked,), _position_of(masked, grouped), "masked"))
    return _View(words=words, candidates=tuple(candidates))


def _position_of(chunk: str, grouped: list[tuple[str, bool, int, int]]) -> int:
    first = _PIECE.match(chunk)
    return next((i for i, g in enumerate(grouped) if first and g[0] == first.group()), 0)


def _views(text: str) -> tuple[_View, ...]:
    specs = [_BASE_VIEW, _ViewSpec(leet="aggressive"), _ViewSpec(v_as_u=True)]
    if _CAMEL.search(unicodedata.normalize("NFKC", text)):
        specs.append(_ViewSpec(camel_split=True))
    if _CJK.search(text):
        specs.append(_ViewSpec(keep_cjk=False))
    if any(ch in text for ch in "1|!"):
        specs.append(_ViewSpec(ambiguous_as_l=True))
    if _EMOJI.search(text):  # enclosed letters that are emoji too: 🅿, regional indicators
        specs.append(_ViewSpec(keep_emoji=False))
    views: list[_View] = []
    for spec in specs:
        view = _view(text, spec)
        if view not in views:
            views.append(view)
    return tuple(views)


def normalize(text: str) -> str:
    """Return the canonical, lower-case, word-separated form of ``text``.

    Invisible characters removed, NFKC, look-alikes and accents mapped to Latin through
    the Unicode confusables data (``decancer``), apostrophes dropped, moderate leetspeak
    mapped inside words that contain a letter (``"s3x"`` -> ``"sex"``; numbers alone and
    measurements such as ``"3d"`` are left intact), punctuation turned into word breaks and
    runs of single characters joined (``"n.u.d.e"`` -> ``"nude"``).

    Parameters
    ----------
    text : str
        Any user text.

    Returns
    -------
    str
        Words of ``[a-z0-9]`` separated by single spaces.
    """
    return " ".join(forms[0] for forms in _view(text, _BASE_VIEW).words)


@dataclass(frozen=True)
class TextVerdict:
    """A prompt moderation answer for one prompt.

    ``matched`` lists what is behind the verdict: the lexicon's blocked terms for a
    rejection, otherwise its review terms (negative-prompt hits are prefixed with
    ``"negative:"``); a remote backend's findings carry its prefix (``"guardrail:SEXUAL"``).
    """

    verdict: Verdict
    matched: tuple[str, ...]


@dataclass(frozen=True)
class _Term:
    original: str
    words: tuple[str, ...]
    joined: str
    prefix: bool = False  # "porn*": any word starting with it
    suffix: bool = False  # "*porn": any word ending with it


def _compile_term(term: str) -> _Term:
    if not isinstance(term, str):
        raise ValueError(f"terms must be strings, got {term!r}")
    core = term.strip()
    suffix, prefix = core.startswith("*"), core.endswith("*")
    core = core.strip("*")
    words = tuple(piece for pieces in _chunk_pieces(core, _BASE_VIEW) for piece in pieces)
    if not words:
        raise ValueError(f"term {term!r} has no letters or digits")
    if (prefix or suffix) and (len(words) != 1 or len(words[0]) < 4):
        raise ValueError(f"wildcard term {term!r} must be one word of at least four letters")
    return _Term(original=term, words=words, joined="".join(words), prefix=prefix, suffix=suffix)


@dataclass(frozen=True)
class _Index:
    """Terms by the stem of their first word and of their joined form."""

    terms: tuple[_Term, ...]
    by_stem: Mapping[str, tuple[_Term, ...]]
    wildcards: tuple[_Term, ...]

    @classmethod
    def of(cls, terms: Iterable[str]) -> _Index:
        compiled = tuple(_compile_term(term) for term in sorted(terms, key=str))
        by_stem: dict[str, list[_Term]] = {}
        for term in (t for t in compiled if not (t.prefix or t.suffix)):
            for key in {_stem(term.words[0]), term.words[0], _stem(term.joined), term.joined}:
                by_stem.setdefault(key, []).append(term)
        return cls(
            terms=compiled,
            by_stem={k: tuple(v) for k, v in by_stem.items()},
            wildcards=tuple(t for t in compiled if t.prefix or t.suffix),
        )

    def positions(self, view: _View) -> dict[str, set[int]]:
        """Where each matching term starts in ``view`` (term -> word positions)."""
        found: dict[str, set[int]] = {}
        for candidate in view.candidates:
            for term in self._matches(candidate, view):
                found.setdefault(term.original, set()).add(candidate.position)
        return found

    def _matches(self, candidate: _Candidate, view: _View) -> Iterable[_Term]:
        if candidate.kind == "masked":
            pattern = re.compile(re.sub(r"\\\*", "[a-z]", re.escape(candidate.forms[0])))
            yield from (t for t in self.terms if len(t.words) == 1 and pattern.fullmatch(t.joined))
            return
        for form in candidate.forms:
            keys = {_stem(form), form, _stem(form[:-1] + "s")} if form.endswith("z") else {_stem(form), form}
            for term in {term for key in keys for term in self.by_stem.get(key, ())}:
                if _inflects(form, term.joined):
                    yield term
                elif len(term.words) > 1 and candidate.kind == "word" and _inflects(form, term.words[0]):
                    if _follows(view, candidate.position, term.words):
                        yield term
            for term in self.wildcards:
                longer = len(form) > len(term.joined)
                if longer and ((term.prefix and form.startswith(term.joined)) or (term.suffix and form.endswith(term.joined))):
                    yield term
        if candidate.kind == "run":
            for term in self.terms:
                if any(term.joined in form for form in candidate.forms):
                    yield term


def _follows(view: _View, start: int, words: tuple[str, ...]) -> bool:
    """Whether ``words[1:]`` (inflected or not) follow the word at ``start``."""
    if start + len(words) > len(view.words):
        return False
    return all(
        any(_inflects(form, word) for form in view.words[start + offset])
        for offset, word in enumerate(words[1:], start=1)
    )


@dataclass(frozen=True)
class TextPolicy:
    """Blocked and review terms for generation prompts (the lexicon prompt backend).

    Parameters
    ----------
    blocked : frozenset of str
        Terms that reject a prompt. Multi-word terms are allowed; ``"word*"`` and
        ``"*word"`` match longer words starting or ending with ``word`` (four letters or
        more; ``word`` itself is a term of its own).
    review : frozenset of str
        Terms that send the generated image to human review.
    negative_review : frozenset of str
        Terms that send the image to review when they appear in the *negative* prompt,
        where they would steer the model away from something (``"clothes"``).
    blocked_near : tuple of (frozenset of str, frozenset of str)
        Pairs of term groups that reject a prompt when a term of each group occurs within
        ``NEAR_WINDOW`` words of the other (minors and sexual words).

    Notes
    -----
    The negative prompt lists what the image must *not* show, so it is never scanned for
    ``blocked`` or ``review`` terms: ``"gore, blood"`` as a negative prompt is fine.
    """

    blocked: frozenset[str]
    review: frozenset[str]
    negative_review: frozenset[str] = frozenset()
    blocked_near: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()
    _indexes: tuple[_Index, ...] = field(init=False, repr=False, compare=False, hash=False)
    _near: tuple[tuple[_Index, _Index], ...] = field(init=False, repr=False, compare=False, hash=False)

    name = LEXICON_NAME

    def __post_init__(self) -> None:
        indexes = []
        for name in ("blocked", "review", "negative_review"):
            terms = _term_set(name, getattr(self, name))
            object.__setattr__(self, name, terms)
            indexes.append(_Index.of(terms))
        pairs = []
        for pair in self.blocked_near:
            if isinstance(pair, (str, Mapping)) or len(pair) != 2:
                raise ValueError("blocked_near must hold pairs of term collections")
            pairs.append((_term_set("blocked_near", pair[0]), _term_set("blocked_near", pair[1])))
        object.__setattr__(self, "blocked_near", tuple(pairs))
        object.__setattr__(self, "_indexes", tuple(indexes))
        object.__setattr__(self, "_near", tuple((_Index.of(a), _Index.of(b)) for a, b in pairs))

    @property
    def model_version(self) -> str:
        """How many terms of each kind: enough to tell two lexicons apart in a record."""
        near = sum(len(a) + len(b) for a, b in self.blocked_near)
        return f"blocked={len(self.blocked)};review={len(self.review)};near={near}"

    def check(self, prompt: str, negative_prompt: str | None = None) -> TextVerdict:
        """Check a generation request's text.

        Parameters
        ----------
        prompt : str
            Scanned for blocked, near and review terms.
        negative_prompt : str, optional
            Scanned only for ``negative_review`` terms (see the class notes).

        Returns
        -------
        TextVerdict
            ``reject`` if a blocked term (or a near pair) matches, else ``review`` if a
            review term matches, else ``approve``.
        """
        blocked, review, negative_review = self._indexes
        views = _views(prompt)
        hits = _hits(blocked, views) + self._near_hits(views)
        if hits:
            return TextVerdict(verdict="reject", matched=hits)
        hits = _hits(review, views)
        if negative_prompt:
            hits += tuple(f"negative:{t}" for t in _hits(negative_review, _views(negative_prompt)))
        if hits:
            return TextVerdict(verdict="review", matched=hits)
        return TextVerdict(verdict="approve", matched=())

    def _near_hits(self, views: tuple[_View, ...]) -> tuple[str, ...]:
        hits: list[str] = []
        for first, second in self._near:
            for view in views:
                a, b = first.positions(view), second.positions(view)
                pairs = sorted(
                    f"{ta}~{tb}"
                    for ta, pa in a.items()
                    for tb, pb in b.items()
                    if any(abs(i - j) <= NEAR_WINDOW for i in pa for j in pb)
                )
                if pairs:
                    hits.append(pairs[0])
                    break
        return tuple(hits)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> TextPolicy:
        """Build a policy from JSON-like config.

        Parameters
        ----------
        data : Mapping
            ``{"blocked": [...], "review": [...], "negative_review": [...],
            "blocked_near": [[[...], [...]], ...]}``; every key is optional and nothing is
            merged with ``DEFAULT_TEXT_POLICY``.

        Raises
        ------
        ConfigurationError
            On unknown keys, non-string terms or terms with no letters or digits.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"text policy must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {"blocked", "review", "negative_review", "blocked_near"}
        if unknown:
            raise ConfigurationError(f"unknown text policy keys: {sorted(unknown)}")
        lists: dict[str, frozenset[str]] = {
            key: frozenset(_string_list(key, data.get(key, [])))
            for key in ("blocked", "review", "negative_review")
        }
        near = data.get("blocked_near", [])
        if not isinstance(near, (list, tuple)) or not all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in near
        ):
            raise ConfigurationError("text policy 'blocked_near' must be a list of [terms, terms] pairs")
        pairs = tuple(
            (frozenset(_string_list("blocked_near", a)), frozenset(_string_list("blocked_near", b)))
            for a, b in near
        )
        try:
            return cls(**lists, blocked_near=pairs)
        except ValueError as exc:
            raise ConfigurationError(f"invalid text policy: {exc}") from exc

    def to_mapping(self) -> dict[str, Any]:
        """Return the policy in the shape ``from_mapping`` reads."""
        mapping: dict[str, Any] = {
            "blocked": sorted(self.blocked),
            "review": sorted(self.review),
            "negative_review": sorted(self.negative_review),
        }
        if self.blocked_near:
            mapping["blocked_near"] = [[sorted(a), sorted(b)] for a, b in self.blocked_near]
        return mapping


def _term_set(name: str, terms: Any) -> frozenset[str]:
    if isinstance(terms, str) or not isinstance(terms, Iterable):
        raise ValueError(f"{name} must be a collection of strings")
    return frozenset(terms)


def _string_list(key: str, raw: Any) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, (list, tuple, set, frozenset)):
        raise ConfigurationError(f"text policy {key!r} must be a list of strings")
    if not all(isinstance(term, str) for term in raw):
        raise ConfigurationError(f"text policy {key!r} must contain only strings")
    return list(raw)


def _hits(index: _Index, views: tuple[_View, ...]) -> tuple[str, ...]:
    found: set[str] = set()
    for view in views:
        found |= index.positions(view).keys()
    return tuple(sorted(found))


###############################################################################
### The default vocabulary
###############################################################################
def listed_words() -> frozenset[str]:
    """glin-profanity's English word list (LDNOOBW), read from the installed package.

    Read as data (the package's own filters are not used). Entries
    without a letter or digit (an emoji) are left out.

    Raises
    ------
    ConfigurationError
        If the list is missing or malformed (a broken install must not ship an empty lexicon).
    """
    spec = importlib.util.find_spec("glin_profanity")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / "dictionaries" / "english.json"
        if path.is_file():
            words = json.loads(path.read_text(encoding="utf-8")).get("words", [])
            if len(words) >= 100 and all(isinstance(w, str) for w in words):
                # Entries with no letters or digits (an emoji) cannot be matched as words.
                return frozenset(w.strip().casefold() for w in words if normalize(w))
    raise ConfigurationError("glin-profanity's English word list is missing or malformed")


# Listed words that reject: sexual acts and material, sexual violence, sexualized minors.
# Each must be unambiguous: no honest image prompt needs it.
LISTED_BLOCKED = frozenset(
    {
        "2 girls 1 cup", "2g1c", "acrotomophilia", "anilingus", "auto erotic", "autoerotic",
        "bangbros", "barely legal", "bestiality", "blow job", "blowjob", "bukkake", "camslut",
        "camwhore", "cocksucker", "coprolagnia", "coprophilia", "creampie", "cunnilingus",
        "date rape", "daterape", "dildo", "double penetration", "ejaculation", "erotic",
        "erotism", "fellatio", "female squirting", "fingerbang", "fisting", "footjob",
        "frotting", "futanari", "gang bang", "gay sex", "genitals", "goatse", "gokkun",
        "group sex", "hand job", "handjob", "hentai", "incest", "jail bait", "jailbait", "jizz",
        "male squirting", "masturbate", "milf", "nambla", "nsfw images", "nude", "nudity",
        "orgasm", "paedophile", "pedobear", "pedophile", "phone sex", "porn", "porno",
        "pornography", "pthc", "rape", "raping", "rapist", "rimjob", "sex", "shota", "topless",
        "tribadism", "upskirt", "urophilia", "zoophilia",
    }
)  # fmt: skip

# Listed words whose ordinary sense dominates in image prompts, or that say nothing about
# what an image shows (swearing, chat abbreviations): matching them would hold honest
# images ("a blue tit", "a cock crowing", "Rio Negro", "scat singing", "a fat cat").
LISTED_IGNORED = frozenset(
    {
        "@ss", "4ss", "a$$", "apeshit", "arsehole", "ass", "asshat", "asshole", "assmunch",
        "asswipe", "ball kicking", "bastard", "bastardized", "bastardo", "bastinado",
        "big black", "bitch", "bitches", "blonde action", "blonde on blonde action",
        "brunette action", "bs", "bullshit", "bung hole", "bunghole", "butt", "chocolate rosebuds",
        "cock", "cocks", "coon", "coons", "cumming", "dick", "dingleberries", "dingleberry", "dipshit",
        "dirty pillows", "domination", "dumbass", "escort", "eunuch", "girl on", "god damn",
        "goodpoop", "hard core", "hardcore", "hoe", "hooker", "hot chick", "huge fat",
        "jackass", "jelly donut", "kinky", "lmfao", "mf", "negro", "octopussy", "omfg",
        "piece of shit", "playboy", "pleasure chest", "poof", "santorum", "scat", "sh!t",
        "sh1t", "shit", "shite", "shithead", "shitshow", "shitty", "shitblimp", "$hit", "$h!t",
        "simp", "snatch", "snowballing", "stfu", "suck", "sucks", "swinger", "tainted love",
        "taste my", "testbad01", "tied up", "tight white", "tit", "tongue in a", "tosser",
        "twinkie", "violet wand", "wrapping men", "wtf", "xx", "s&m", "skeet", "shrimping", "b!tch",
        "scissoring", "pissed", "bollocks", "spunk", "fingering", "twink",
    }
)  # fmt: skip

# Terms the list lacks. Blocked ones follow the same rule as LISTED_BLOCKED.
EXTRA_BLOCKED = frozenset(
    {
        # sexual content
        "porn*", "*porn", "pornographic", "nude*", "nsfw", "nsfw*", "cumshot", "sexual intercourse", "sexually explicit",
        "explicit sex", "sex act", "sex scene", "sex tape", "genital", "genitalia", "seggs",
        "secks", "naked woman", "naked women", "naked man", "naked men", "naked body",
        "raped", "molest", "molestation", "child molester",
        # minors in a sexual context
        "child porn", "child pornography", "child sexual abuse", "csam", "loli", "lolicon",
        "shotacon", "underage sex",
        # extreme gore (single words such as "beheading" also name classical paintings
        # and only go to review)
        "extreme gore", "graphic gore", "disemboweled", "disembowelment", "mutilated body",
        "mutilated corpse", "dismembered body", "dismembered corpse",
    }
)  # fmt: skip

EXTRA_REVIEW = frozenset(
    {
        # sexual, but with honest senses (biology, health, art history)
        "sexual", "sexual assault", "sexual abuse", "sexually", "pron", "intercourse",
        "undressed", "provocative", "explicit",
        # nudity in other words
        "no clothes", "no clothing", "without clothes", "without clothing", "wearing nothing",
        "birthday suit", "in the buff", "making love",
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
)  # fmt: skip

# A minor near a sexual word rejects ("sexy schoolgirl", "a young girl, nude",
# "molested child"). "girl" and "boy" alone are not here: adults are called so too.
MINOR_TERMS = frozenset(
    {
        "child", "children", "kid", "kiddie", "minor", "underage", "teen", "teenager",
        "preteen", "tween", "schoolgirl", "schoolboy", "toddler", "infant", "baby",
        "little girl", "little boy", "young girl", "young boy", "juvenile", "pubescent",
        "prepubescent",
    }
)  # fmt: skip
SEXUAL_TERMS = frozenset(
    {
        "naked", "nude", "sexy", "sexual", "sexually", "erotic", "seductive", "sensual",
        "lingerie", "topless", "undressed", "undressing", "molest", "porn*", "sex", "nsfw",
        "provocative", "explicit", "aroused", "lewd", "fetish", "seggs",
    }
)  # fmt: skip


def default_policy(words: frozenset[str] | None = None) -> TextPolicy:
    """The shipped policy: the curated list (``listed_words()``) plus the extra terms.

    Listed words in ``LISTED_BLOCKED`` reject, those in ``LISTED_IGNORED`` are dropped, and
    every other listed word (including words a newer list adds) sends the image to review.
    """
    listed = listed_words() if words is None else words
    blocked = (listed & LISTED_BLOCKED) | EXTRA_BLOCKED
    review = (listed - LISTED_BLOCKED - LISTED_IGNORED - EXTRA_BLOCKED) | EXTRA_REVIEW
    return TextPolicy(
        blocked=frozenset(blocked),
        review=frozenset(review - blocked),
        negative_review=frozenset(
            {
                "clothes", "clothing", "clothed", "dressed", "underwear", "swimsuit", "bikini",
                "censored", "sfw", "safe for work",
            }
        ),  # fmt: skip
        blocked_near=((MINOR_TERMS, SEXUAL_TERMS),),
    )


DEFAULT_TEXT_POLICY = default_policy()
