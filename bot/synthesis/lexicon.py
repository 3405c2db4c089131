"""The words the verifier weighs, and how (pure): content terms, polarity, antonyms, names.

    >>> sorted(content_terms("The note argues that warmth training made models less reliable."))
    ['less', 'model', 'reliabl', 'train', 'warmth']
    >>> reversal("Standard safety benchmarks caught the degradation.",
    ...          "Standard safety benchmarks miss this vulnerability.")
    'the passage it paraphrases says "miss" there, and it does not'
    >>> flipped_pairs({"more", "error"}, {"fewer", "error"})
    [('more', 'fewer')]

Content terms are Snowball stems (the index's own tokenizer) without function words, words about
the notes themselves ("the note argues", "the study found": a sentence may frame a claim so, and
the passage need not say "note") and numbers (checked as facts). Polarity words reverse a claim:
negations, "without", "fail", "miss", "lack", "non-". Antonym pairs are general English opposites
(more/less, improve/degrade, stable/unstable ...): a sentence that says "more" where the passage it
paraphrases says "fewer" reverses it as surely as a "not".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..index.lexical import tokenize

# Function words, discourse markers and the commonest verbs: a paraphrase adds and drops them freely.
FUNCTION_WORDS = frozenset("""
a about above across after again against all almost along already also although always am among an and
another any anyone anything are around as at back be became because become becomes been before being
both but by can could did do does doing done during each either else enough even ever every few for from
further get gets getting give gives given go goes going got had has have having he her here hers him his
how however i if in instead into is it its itself just let like made make makes making many may me might
mine more most much must my neither no nor not now of off often on once one only onto or other others
our ours out over own per put quite rather really same seem seemed seems she should so some something
still such than that the their theirs them themselves then there therefore these they thing things
this those though through thus to too toward towards under until up upon us use used uses using very
via was way we were what whatever when whenever where whether which while who whole whom whose why will
with within without would yet you your yours kind sort lot lots well whereas
""".split())

# Words about the notes and the work they describe, not about its content.
META_WORDS = frozenset("""
note notes noted paper papers study studies studied research researcher researchers prompt prompts title
titles titled finding findings find finds found concept concepts inquiry inquiries source sources
anchor anchors list listed line lines author authors article articles section sections passage passages
corpus collection work works evidence argue argues argued argument say says said suggest suggests
suggested show shows showed shown report reports reported describe describes described according state
states stated claim claims claimed explain explains explained propose proposes proposed observe
observes observed conclude concludes concluded point points pointed case framed frames frame
""".split())

_WORD = re.compile(r"[^\W\d_][\w'’-]*|\d[\w.,%-]*")


@lru_cache(maxsize=4096)
def _stems(word: str) -> tuple[str, ...]:
    return tuple(tokenize(word))


@lru_cache(maxsize=16384)
def content_terms(text: str) -> frozenset[str]:
    """The stems a claim's support is judged on (see the module docstring)."""
    terms: set[str] = set()
    for word in _WORD.findall(text.lower()):
        for part in re.split(r"[-'’]", word):
            if len(part) < 2 or part in FUNCTION_WORDS or part in META_WORDS or part == "non" or part[0].isdigit():
                continue
            terms.update(t for t in _stems(part) if not t.isdigit())
    return frozenset(terms)


def prefixes(terms: set[str], length: int = 5) -> set[str]:
    """The `length`-letter beginnings of the longer terms: "optimis" and "optim" meet at "optim"."""
    return {t[:length] for t in terms if len(t) >= length}


def covered(term: str, known: set[str], known_prefixes: set[str], length: int = 5) -> bool:
    return term in known or (len(term) >= length and term[:length] in known_prefixes)


# --- polarity ----------------------------------------------------------------------------------------
_POLARITY = re.compile(
    r"\b(?:not|no|never|none|nothing|nobody|neither|nor|cannot|without|unable|impossible|absent|untested|unproven"
    r"|fail(?:s|ed|ing|ure|ures)?|lack(?:s|ed|ing)?|miss(?:es|ed|ing)?)\b|n[’']t\b|≠|\bnon-",
    re.IGNORECASE)


def polarity_words(text: str) -> list[str]:
    """The words that reverse what a text says, in order."""
    return [m.group(0).lower() for m in _POLARITY.finditer(text)]


# General English opposites, as stems (Snowball) of either side's forms.
_ANTONYMS = [
    ("more", "less"), ("more", "fewer"), ("higher", "lower"), ("high", "low"), ("increas", "decreas"),
    ("increas", "reduc"), ("rais", "lower"), ("rise", "fall"), ("grow", "shrink"), ("improv", "degrad"),
    ("improv", "wors"), ("improv", "hurt"), ("help", "hurt"), ("help", "harm"), ("better", "wors"),
    ("best", "worst"), ("gain", "loss"), ("gain", "lose"), ("strong", "weak"), ("stronger", "weaker"),
    ("easi", "hard"), ("easier", "harder"), ("stabl", "unstabl"), ("same", "differ"), ("same", "distinct"), ("ident", "differ"), ("ident", "distinct"),
    ("similar", "differ"), ("abov", "below"), ("befor", "after"), ("earli", "late"), ("first", "last"),
    ("mani", "few"), ("larg", "small"), ("larger", "smaller"), ("long", "short"), ("longer", "shorter"),
    ("posit", "negat"), ("accept", "reject"), ("support", "contradict"), ("includ", "exclud"),
    ("maximum", "minimum"), ("maxim", "minim"),
    ("outperform", "underperform"), ("expand", "narrow"), ("widen", "narrow"), ("enhanc", "diminish"),
    ("boost", "cut"), ("add", "remov"), ("allow", "prevent"), ("enabl", "prevent"), ("caus", "prevent"),
    ("maintain", "lose"), ("preserv", "lose"), ("keep", "lose"), ("durabl", "perish"), ("perman", "temporari"),
    ("true", "fals"), ("correct", "incorrect"), ("accur", "inaccur"), ("reliabl", "unreli"),
    ("consist", "inconsist"), ("agre", "disagre"), ("possibl", "imposs"),
    ("certain", "uncertain"), ("explicit", "implicit"), ("activ", "passiv"), ("strength", "weak"),
    ("advantag", "disadvantag"), ("benefit", "cost"), ("benefit", "harm"), ("reward", "penal"),
    ("amplifi", "dampen"), ("intensifi", "fade"), ("intensifi", "weaken"), ("worsen", "eas"),
    ("beat", "trail"), ("win", "lose"),
    ("rare", "common"), ("insid", "outsid"), ("open", "close"), ("start", "stop"),
    ("begin", "end"), ("sever", "singl"), ("multi", "singl"),
]
# Amounts: any word of one side opposes any of the other ("minimal emotional resonance" against
# "strong emotional resonance").
_MUCH = "much mani more most high higher highest increas great greater larg larger major substanti signific strong stronger maxim maximum frequent".split()
_LITTLE = "littl few fewer least less low lower lowest reduc decreas small smaller minor slight weak weaker minim minimum rare".split()
_ANTONYMS += [(a, b) for a in _MUCH for b in _LITTLE]
ANTONYMS: dict[str, set[str]] = {}
for _a, _b in _ANTONYMS:
    ANTONYMS.setdefault(_a, set()).add(_b)
    ANTONYMS.setdefault(_b, set()).add(_a)


# "not just", "not only": additive, not negating; "No:" answering a yes-or-no question, or "'No'"
# inside a quoted title.
_NOT_NEGATING = re.compile(r"\b(?:not|n[’']t)\s+(?:just|only|merely|simply|necessarily|least)\b"
                           r"|\bno\s*[:,.—'’\"”-]", re.IGNORECASE)
# Contrast that negates what follows: "social deliberation rather than logical derivation".
_CONTRAST = re.compile(r"(?:rather\s+than|instead\s+of|as\s+opposed\s+to)", re.IGNORECASE)
_TOKEN = re.compile(r"(?i)\b(?:rather\s+than|instead\s+of|as\s+opposed\s+to|f[ae]ll(?:s|ing)?\s+short)\b"
                    r"|n[’']t\b|≠|\bnon-|[^\W\d_]\w*(?:[-'’][^\W\d_]\w*)*|\d[\w.,%]*|[,;:.!?()—–]")
_CLAUSE_END = re.compile(r"[,;:.!?()—–]|but|while|whereas|yet|although|though")
# How far an antonym reaches: this many content words on either side. A negation reaches the
# content word before it (its subject, often: "benchmarks miss") and what follows it to the end of
# its clause, at most NEGATION_REACH content words ("cannot access prior knowledge or apply ...").
REACH = 2
NEGATION_REACH = 5
# A reversal needs this many of the claim's terms beside the negation (calibrated: see verify.py).
MIN_SHARED = 1


@dataclass(frozen=True)
class Marker:
    """A word that reverses what is said around it, and the content terms around it."""

    word: str
    kind: str  # "negation", "contrast" ("rather than"), or an antonym's stem
    reach: frozenset[str]
    negated: bool = False  # an antonym under a negation ("without hurting"): it means its opposite
    absorbed: bool = False  # a negation right before an antonym: it lives on in the antonym's meaning

    @property
    def meanings(self) -> frozenset[str]:
        """What an antonym-bearing word says: its stem, or under a negation its opposites."""
        return frozenset(ANTONYMS.get(self.kind, ())) if self.negated else frozenset([self.kind])

    def opposes(self, other: Marker) -> bool:
        return any(ANTONYMS.get(a, set()) & other.meanings for a in self.meanings)


@dataclass(frozen=True)
class Reading:
    """A text's markers, and its terms that stand outside every negation's reach."""

    markers: tuple[Marker, ...]
    plain: frozenset[str]

    def of(self, kind: str) -> list[Marker]:
        return [m for m in self.markers if m.kind == kind]

    @property
    def antonyms(self) -> list[Marker]:
        return [m for m in self.markers if m.kind not in ("negation", "contrast")]

    @property
    def meanings(self) -> set[str]:
        return {x for m in self.antonyms for x in m.meanings}


# "X over Y" after a verb of preferring is "X rather than Y": "rewarding confident responses over
# clarifying questions".
_PREFERRED_OVER = re.compile(r"(?i)\b((?:reward|prefer|favou?r|prioriti[sz]|choos|chose|select|valu|pick)\w*\b"
                             r"[^.;:,]{0,80}?)\bover\b")


@lru_cache(maxsize=4096)
def read(text: str) -> Reading:
    """The negations (and contrasts), antonym-bearing words and plain terms of a text; each marker
    with the content terms within REACH content words of it (after it only, for a contrast)."""
    text = _NOT_NEGATING.sub(" ", text)
    text = _PREFERRED_OVER.sub(r"\1 rather than", text)
    items = []  # (terms, kind or None, word)
    for token in _TOKEN.findall(text.lower()):
        plain = " ".join(token.split())
        if _CONTRAST.fullmatch(plain):
            items.append(([], "contrast", plain))
        elif (_POLARITY.fullmatch(plain) or plain.endswith(("n't", "n’t")) or plain in ("≠", "non-")
              or re.fullmatch(r"f[ae]ll(?:s|ing)? short", plain)):
            items.append(([], "negation", plain))
        else:
            bare = re.split(r"[-'’]", plain)[0]
            opposite = next((s for s in (bare, *_stems(bare)) if s in ANTONYMS), None)
            items.append((sorted(content_terms(plain)), opposite, plain))
    content = [i for i, item in enumerate(items) if item[0]]
    ends = [i for i, item in enumerate(items) if not item[0] and item[1] is None and _CLAUSE_END.fullmatch(item[2])]
    found = []
    inside: set[int] = set()
    for i, (_, kind, word) in enumerate(items):
        if kind is None:
            continue
        if kind in ("negation", "contrast"):
            end = next((e for e in ends if e > i), len(items))
            start = max([e for e in ends if e < i], default=-1)
            before = [] if kind == "contrast" else [p for p in content if start < p < i][-1:]
            after = [p for p in content if i < p < end][:NEGATION_REACH]
        else:
            before = [p for p in content if p < i][-REACH:]
            after = [p for p in content if p > i][:REACH]
        if kind in ("negation", "contrast"):
            inside.update(before + after)
        reach = frozenset(t for p in before + after if p != i for t in items[p][0])
        # an antonym straight after a negation (function words aside): "without hurting", "not more"
        previous = next((items[p] for p in range(i - 1, -1, -1) if items[p][0] or items[p][1]), None)
        negated = kind not in ("negation", "contrast") and previous is not None and previous[1] == "negation"
        following = next((items[p] for p in range(i + 1, len(items)) if items[p][0] or items[p][1]), None)
        absorbed = kind == "negation" and following is not None and following[1] not in (None, "negation", "contrast")
        found.append(Marker(word, kind, reach, negated, absorbed))
    plain_terms = frozenset(t for p in content if p not in inside for t in items[p][0])
    return Reading(tuple(found), plain_terms)


def reversal(claim: str, segment: str, passage: Reading | None = None, min_shared: int = MIN_SHARED,
             *, whole: str | None = None) -> str | None:
    """How `claim` says the opposite of `segment`, which it paraphrases; None when it does not.
    `passage` is the reading of the whole cited passage the segment is part of; `whole` the whole
    sentence when `claim` is one of its clauses (its negations count for every clause).

    - an antonym beside a shared term where the other has its opposite ("ask more clarifying
      questions" against "ask fewer clarifying questions");
    - a negation in the segment beside at least MIN_SHARED of the shared terms, terms the passage
      never uses un-negated (an even number of negations there cancel out: "impossible without"),
      while the claim negates nothing and turns no antonym around ("benchmarks caught the
      degradation" against "standard safety benchmarks miss this vulnerability");
    - a negation in the claim beside MIN_SHARED shared terms that nothing in the passage negates
      (a negation right before an antonym, "without hurting", is that antonym's opposite)."""
    shared = _shared(content_terms(claim), content_terms(segment))
    mine, theirs = read(claim), read(segment)
    passage = passage or theirs
    sentence = read(whole) if whole else mine
    my_meanings = sentence.meanings
    their_meanings = passage.meanings | theirs.meanings
    for a in mine.antonyms:
        for b in theirs.antonyms:
            if (a.opposes(b) and not (b.meanings & my_meanings) and not (a.meanings & their_meanings)
                    and a.reach & b.reach & shared and len((a.reach | b.reach) & shared) >= min_shared):
                said = f"not {a.word}" if a.negated else a.word
                return f'it says "{said}" where the passage it paraphrases says "{b.word}"'
    turned = any(m.opposes(t) for m in sentence.antonyms for t in passage.antonyms + theirs.antonyms)
    if not sentence.of("negation") and not sentence.of("contrast") and not turned:
        for negation in theirs.of("negation") + theirs.of("contrast"):
            near = (negation.reach & shared) - passage.plain
            if len(near) < min_shared:
                continue
            if sum(1 for m in theirs.of("negation") + theirs.of("contrast") if m.reach & near) % 2 == 0:
                continue  # "impossible without": no reversal at all
            return f'the passage it paraphrases says "{negation.word}" there, and it does not'
    for negation in mine.of("negation"):
        if negation.absorbed:
            continue
        near = (negation.reach & shared) - mine.plain
        if len(near) < min_shared or sum(1 for m in mine.of("negation") if m.reach & near) % 2 == 0:
            continue
        if sum(1 for m in theirs.markers if m.kind == "negation" and m.reach & near) % 2 == 1:
            continue  # the segment negates them too
        if not theirs.of("negation") and any(m.reach & near for m in passage.markers if m.kind == "negation"):
            continue  # another part of the passage does
        return f'it says "{negation.word}", and what it paraphrases does not'
    return None


def _shared(mine: set[str], theirs: set[str]) -> set[str]:
    """Terms on both sides, in both spellings when they meet only by their first five letters
    ("therapi" and "therapeut")."""
    shared = mine & theirs
    by_prefix = {t[:5]: t for t in theirs if len(t) >= 5}
    for term in mine - theirs:
        if len(term) >= 5 and term[:5] in by_prefix:
            shared |= {term, by_prefix[term[:5]]}
    return shared


def antonym_stems(text: str) -> set[str]:
    """The stems of a text that have an antonym in the table (function words included: "more")."""
    stems = {t for word in re.findall(r"[^\W\d_]+", text.lower()) for t in _stems(word)}
    stems |= {w for w in re.findall(r"[^\W\d_]+", text.lower())}  # "more", "less", "all" ... unstemmed
    return {s for s in stems if s in ANTONYMS}


def flipped_pairs(claim: set[str], segment: set[str]) -> list[tuple[str, str]]:
    """Antonym pairs the claim turns around: it says `a` where the segment says `b` (and neither
    says both)."""
    pairs = []
    for a in sorted(claim - segment):
        for b in sorted(ANTONYMS.get(a, ())):
            if b in segment and b not in claim:
                pairs.append((a, b))
    return pairs


# --- names -------------------------------------------------------------------------------------------
_CAPITALISED = re.compile(r"[A-Z][\w'’-]*")


def names(text: str) -> list[str]:
    """Capitalised words other than a sentence's (or a quote's, or a clause after a colon) first:
    names, acronyms, titles."""
    found = []
    for match in _CAPITALISED.finditer(text):
        before = text[:match.start()].rstrip()
        if not before or before.endswith((".", "!", "?", ":", ";", "\"", "“", "(", "—")):
            continue
        if match.start() > 0 and (text[match.start() - 1].isalnum() or text[match.start() - 1] in "-'’"):
            continue  # inside a word: "non-Thinking", "GPT-4.5" was found at its start
        found.append(match.group(0).rstrip("'’-"))
    return found
