"""The readable layer of triage: hand-written phrase lists for emergencies.

``match_rules`` says which lists a message matches; the learned model in ``chat/triage.py``
takes that as two of its features, together with the embedding model's layer states and the
message's words. On our independently written triage set the phrases alone caught a fifth of
the emergencies and also fired on a few per cent of look-alike questions, so they no longer
decide on their own. ``normalise`` is shared with the model's word features. It runs in about
20 microseconds a message, after a one-off ~35 ms the first time (building the typo table).

How a message is read:

1. ``normalise``: lower case, apostrophes dropped ("can't" -> "cant", "dad's" -> "dads"), every
   other character that is not a letter or digit becomes a space, and common misspellings of
   the key words are corrected: a hand-written list for short words ("chset", "cnat", "hart")
   and, for longer key words, any word one edit away (a letter dropped, added, changed, or two
   neighbours swapped: "sucidal", "bleding", "breth"), unless that word is a real one
   ("breeding", "cooking").
2. Each kind of emergency (named as the situations of ``chat/data/locales``) has two lists.
   *Urgent* phrases count however they are framed: "kill myself", "want to die",
   "cant breathe", "throat is closing", "took a whole bottle of", "swallowed bleach".
   *Symptom* phrases ("chest pain", "face is drooping", "bleeding a lot", "having a seizure",
   "suicidal") count when the message is about someone (it says "i", "my", "he",
   "someone", "right now", ...) or is a bare statement ("chset pain", "slurred speech and one
   side weak"). They are not when the message is a general question about the topic and says
   nothing about anyone: "what causes chest pain in runners", "how is anaphylaxis treated".
   Symptoms described as long-standing or recurring ("sometimes", "for years", "whenever") are
   not counted either, except thoughts of suicide.
3. A phrase right after a negation ("no chest pain", "i dont think im having a stroke") does
   not count.

Chest pain: any chest pain said of someone, or typed on its own, counts; warning signs (arm or
jaw pain, sweating, breathlessness) are not required. Someone reporting chest pain should be
told to call for help either way, and the question check above keeps "what causes chest pain
in runners" or "is chest pain with sweating a sign of a heart attack" out.

The kinds are checked in a fixed order, and the first that matches is named: the more specific or
more immediately dangerous first (anaphylaxis before breathing, chest pain before breathing,
an overdose before suicidal intent, since its message covers the physical danger).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class RuleMatch:
    """What the phrase lists say of a message."""

    situation: str | None  # the first kind, in the fixed order, whose phrases match
    urgent: bool  # an urgent phrase matched
    symptom: bool  # a symptom phrase matched, in a message not ruled out as a general question


NO_MATCH = RuleMatch(None, False, False)


def match_rules(text: str) -> RuleMatch:
    """Which phrase lists match ``text``. The learned triage model (``chat/triage.py``) weighs
    ``urgent`` and ``symptom``; on their own they miss most emergencies worded otherwise.

    A symptom phrase does not count in a general question about a topic ("what are the symptoms
    of a stroke") or when described as long-standing (except thoughts of suicide)."""
    words = normalise(text)
    if not words:
        return NO_MATCH
    about_someone = _ABOUT_SOMEONE.search(words) is not None
    general_question = not about_someone and _GENERAL_QUESTION.search(words) is not None
    long_standing = _LONG_STANDING.search(words) is not None
    situation, urgent, symptom = None, False, False
    for rule in _RULES:
        rule_urgent = _found(rule.urgent, words)
        rule_symptom = not (
            general_question or (long_standing and not rule.even_if_long_standing)
        ) and (
            _found(rule.symptoms, words)
            or any(
                _found(first, words) and _found(second, words) for first, second in rule.together
            )
        )
        if (rule_urgent or rule_symptom) and situation is None:
            situation = rule.kind
        urgent, symptom = urgent or rule_urgent, symptom or rule_symptom
    return RuleMatch(situation, urgent, symptom)


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces, apostrophes dropped, key-word typos fixed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHES.sub("", text)
    return " ".join(_correct(word) for word in _WORD.findall(text))


# --- normalising ------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`\u00b4]")
_WORD = re.compile(r"[a-z0-9]+")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Short words, where one edit lands on too many real words, and words run together.
_VARIANTS: dict[str, str] = {
    "chset": "chest",
    "chets": "chest",
    "cheast": "chest",
    "chesst": "chest",
    "chestt": "chest",
    "chst": "chest",
    "chestpain": "chest pain",
    "pian": "pain",
    "paim": "pain",
    "painn": "pain",
    "hart": "heart",
    "haert": "heart",
    "heatr": "heart",
    "hert": "heart",
    "heartattack": "heart attack",
    "havign": "having",
    "haivng": "having",
    "havng": "having",
    "haveing": "having",
    "havin": "having",
    "pils": "pills",
    "plls": "pills",
    "pilss": "pills",
    "cnat": "cant",
    "cnt": "cant",
    "cabt": "cant",
    "cannot": "cant",
    "wnat": "want",
    "wnt": "want",
    "dnot": "dont",
    "wnot": "wont",
    "kil": "kill",
    "kll": "kill",
    "liev": "live",
    "lvie": "live",
    "stpo": "stop",
    "alot": "a lot",
    "selfharm": "self harm",
    "cantbreathe": "cant breathe",
    "cantbreath": "cant breathe",
}

# Longer key words: a word one edit away from one of these is read as it.
_KEY_WORDS = _word_set(
    "anaphylactic anaphylaxis allergic attack bleach bleeding breath breathe breathing "
    "choking closing convulsing crooked crushing drooping droopy epipen herself himself "
    "myself overdose overdosed overdosing peanuts poison poisoned pressure reaction "
    "seizing seizure slurred slurring speech stroke suicidal suicide swallowed swelling "
    "swollen sweating tablets themselves throat tightness unconscious unresponsive"
)

# Real words one edit away from a key word: left as they are.
_REAL_WORDS = _word_set(
    "attach beach bleeping blending blurred blurring breach breaching breadth breeding "
    "brushing chowing cloning cloying cooked cooking crashing croaked crooned crusting "
    "drooling dropping dwelling leach lightness losing overdoing overdone prison "
    "rightness rushing seating selling shelling sizing slurped slurping smelling spelling "
    "spurred spurring stoke strike strobe strode strove swearing swilling tables threat "
    "trooping wallowed welling wreath"
)


def _correct(word: str) -> str:
    return _VARIANTS.get(word) or _one_edit_corrections().get(word, word)


@cache
def _one_edit_corrections() -> dict[str, str]:
    """Every word one edit away from a key word, mapped to that key word.

    Built once, on first use. A word near two key words is left out: it is not clear which
    was meant.
    """
    seen: dict[str, set[str]] = {}
    for key in _KEY_WORDS:
        for variant in _one_edit(key):
            seen.setdefault(variant, set()).add(key)
    return {
        variant: keys.pop()
        for variant, keys in seen.items()
        if len(keys) == 1 and variant not in _REAL_WORDS and variant not in _KEY_WORDS
    }


def _one_edit(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = set()
    for left, right in splits:
        if right:
            edits.add(left + right[1:])
            edits.update(left + letter + right[1:] for letter in letters)
        if len(right) > 1:
            edits.add(left + right[1] + right[0] + right[2:])
        edits.update(left + letter + right for letter in letters)
    edits.discard(word)
    return edits


# --- reading the message ----------------------------------------------------------------------


def _phrases(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of the phrases, each as whole words."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b")


_NEGATIONS = _word_set("no not dont doesnt didnt isnt arent wasnt werent never without nor denies")
_CLAUSE_BREAKS = _word_set("but and or yet though although however")


def _found(pattern: re.Pattern[str] | None, words: str) -> bool:
    """Whether the pattern occurs in the words other than right after a negation."""
    if pattern is None:
        return False
    return any(not _negated(words[: match.start()]) for match in pattern.finditer(words))


def _negated(before: str) -> bool:
    """Whether one of the last three words before a phrase negates it, in the same clause."""
    for word in reversed(before.rsplit(maxsplit=3)[-3:]):
        if word in _CLAUSE_BREAKS:
            return False
        if word in _NEGATIONS:
            return True
    return False


_ABOUT_SOMEONE = _phrases(
    r"i|im|ive|id|me|my|mine|myself|we|were|our|us",
    r"he|hes|him|his|himself|she|shes|her|herself|they|theyre|them|their|themselves",
    r"someone|somebody|right now|just now|suddenly",
)

_GENERAL_QUESTION = re.compile(
    r"^(?:what|whats|how|hows|why|when|where|which|who|is|are|was|can|could|does|do|did|"
    r"should|would|will|tell me|explain|define|describe|list|give me|information|info|facts)\b"
    r"|\b(?:symptoms?|signs?|causes?|caused|risk|risks|statistics|stats|prevent\w*|"
    r"treat\w*|therapy|therapies|diagnos\w*|research|studies|study|facts|how common|"
    r"incidence|prevalence|rates?|definition|meaning|awareness|education|articles?)\b"
)

_LONG_STANDING = _phrases(
    r"sometimes|often|usually|occasionally|whenever|on and off|recurring|chronic",
    r"every (?:time|day|night|morning|week|month|year)",
    r"for (?:weeks|months|years)",
    r"for (?:\d+|a few|a couple of|several|many|two|three|four|five|six) (?:weeks|months|years)",
)


@dataclass(frozen=True)
class _Rule:
    """How one kind of emergency is recognised (see the module docstring)."""

    kind: str
    urgent: re.Pattern[str] | None
    symptoms: re.Pattern[str] | None
    # Pairs of phrases that count as a symptom only when both occur.
    together: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = ()
    # Whether the symptoms count even when described as recurring or long-standing.
    even_if_long_standing: bool = False


_CANT = r"(?:cant|can not|couldnt|unable to)"
# A blocked nose is not an emergency: "i cant breathe through my nose".
_BREATHE = (
    r"(?:breathe|breath|breathing)"
    r"(?! (?:through|out of|thru|in) (?:my|his|her|their|the|one) (?:nose|nostril))"
)
_HARD_TO_BREATHE = (
    _CANT + r" (?:" + _BREATHE + r"|get (?:any |enough )?air)",
    r"(?:hard|difficult|struggling|struggle|fighting) (?:to )?" + _BREATHE,
    r"(?:trouble|difficulty|difficulties|problems) " + _BREATHE,
)
_SOMEONES = r"(?:my|his|her|their|the)"

_ANAPHYLAXIS = _Rule(
    kind="anaphylaxis",
    urgent=_phrases(
        r"throat (?:is |feels |keeps |has |started |starting )?(?:closing|closed|tightening|"
        r"swelling shut|swollen shut)",
        r"(?:tongue|lips|lip|mouth) (?:and throat |and tongue |and lips )?"
        r"(?:is |are |keeps |started |starting )?(?:swelling|swollen) and " + _CANT,
    ),
    symptoms=_phrases(
        r"(?:having|going into|gone into|went into|is in|in|into) (?:an )?(?:anaphylaxis|"
        r"anaphylactic (?:shock|reaction))",
        r"anaphylactic (?:shock|reaction) (?:right now|now)",
        r"(?:used|use|using|gave|give|giving|inject|injected) (?:(?:him|her|them|me) )?"
        r"(?:my|his|her|their|an|the) "
        r"(?:epipen|epi pen|epinephrine)",
    ),
    together=(
        (
            _phrases(
                r"(?:lips?|tongue|throat|mouth|face) (?:is |are |keeps |started |"
                r"starting |)?(?:swelling|swollen|swelled)",
                r"(?:swollen|swelling) (?:lips?|tongue|throat|mouth|face)",
                r"swelling (?:of|in) " + _SOMEONES + r" (?:lips?|tongue|throat|mouth|face)",
            ),
            _phrases(
                r"peanuts?|nuts?|shellfish|shrimp|bee|bees|wasp|hornet|stung|sting|"
                r"allergic|allergy|hives|reaction|penicillin|antibiotics?",
                *_HARD_TO_BREATHE,
            ),
        ),
        (
            _phrases(r"allergic (?:reaction|to)", r"hives", r"stung", r"(?:bee|wasp) sting"),
            _phrases(*_HARD_TO_BREATHE),
        ),
    ),
)

_CHEST_PAIN = _Rule(
    kind="cardiac",
    urgent=None,
    symptoms=_phrases(
        r"chest (?:pains?|pressure|tightness|ache|aches|aching|discomfort|hurts?|hurting|"
        r"is hurting|is tight|feels tight|feels heavy|is heavy|is killing me)",
        r"(?:pain|pains|pressure|tightness|squeezing|heaviness|weight|ache|hurts?) "
        r"(?:in|on|across) " + _SOMEONES + r" chest",
        r"(?:crushing|squeezing|tight) chest",
        r"having (?:a |an )?heart attack",
        r"heart attack (?:happening|right now|now)",
        r"(?:its|it is|this is|be|feels like|feel like) (?:a )?heart attack",
    ),
)

_STROKE = _Rule(
    kind="stroke",
    urgent=None,
    symptoms=_phrases(
        # Face
        r"(?:face|mouth|smile) (?:is |looks |seems |has |started |keeps |)?(?:drooping|droopy|"
        r"droops|drooped|sagging|saggy|crooked|uneven|lopsided|fallen|slack)",
        r"(?:drooping|droopy|crooked|lopsided|uneven) (?:face|smile|mouth)",
        r"(?:one side|half) of " + _SOMEONES + r" (?:face|body|mouth)",
        # Arm
        r"(?:one|left|right) (?:side|arm|leg|hand)(?: of " + _SOMEONES + r" body)? (?:is |feels |"
        r"went |has gone |gone |)(?:weak|numb|limp|paralyzed|paralysed|dead|useless)",
        r"(?:weak|numb|weakness|numbness|paralysis|paralyzed) (?:on|in) (?:one|the left|the "
        r"right|my left|my right|his left|his right|her left|her right) (?:side|arm|leg)",
        _CANT + r" (?:move|lift|feel) " + _SOMEONES + r" (?:left |right )?(?:arm|leg|side)",
        r"one sided weakness",
        # Speech
        r"slurred|slurring|slurs",
        r"speech (?:is |sounds |)(?:slurred|garbled|jumbled)",
        r"(?:garbled|jumbled) (?:speech|words)",
        r"talking (?:funny|gibberish|nonsense)",
        r"sudden(?:ly)? " + _CANT + r" (?:speak|talk|see|walk)",
        # Others
        r"sudden(?:ly)? (?:confusion|confused|vision loss|loss of vision|blindness|blind|"
        r"numbness|weakness|severe headache|trouble walking|loss of balance)",
        r"worst headache (?:of|in) (?:my|his|her|their) life",
        r"thunderclap headache",
        r"having (?:a |an )?(?:mini )?stroke",
        r"(?:its|it is|this is|be|maybe|is this) (?:a |an )?(?:mini )?stroke",
        r"stroke (?:right now|happening)",
    ),
)

_SEVERE_BLEEDING = _Rule(
    kind="bleeding",
    urgent=_phrases(
        r"bleeding (?:wont|will not|doesnt|does not|isnt|is not|cant|hasnt|has not|wouldnt|"
        r"not) (?:stop|stopping|stopped|slow|slowing)",
        r"(?:wont|will not|cant|can not|couldnt|doesnt|isnt|hasnt|not) stop\w* (?:the )?bleeding",
        r"blood (?:is )?(?:spurting|gushing|pouring|squirting)",
    ),
    symptoms=_phrases(
        r"bleeding (?:a lot|lots|heavily|badly|profusely|everywhere|like crazy|so much|too much|"
        r"really bad|very bad|nonstop|non stop)",
        r"(?:heavy|severe|massive|uncontrolled|uncontrollable|lots of|so much|a lot of|pool of|"
        r"too much) (?:bleeding|blood)(?! (?:during|with|on|in|from) (?:my |her |the )?"
        r"(?:period|periods|menstruation|cycle))",
        r"blood everywhere",
        r"(?:spurting|gushing|pouring|squirting) (?:out )?blood",
        r"(?:lost|losing) (?:a lot of|so much|lots of) blood",
        r"soak\w* (?:through )?(?:\w+ )?(?:with|in) blood",
        r"(?:vomiting|throwing up|coughing up|puking) (?:up )?(?:a lot of )?blood",
    ),
)

_SUBSTANCES = (
    r"bleach|poison|rat poison|antifreeze|detergent|laundry pods?|tide pods?|dishwasher pods?|"
    r"drain cleaner|oven cleaner|toilet cleaner|cleaning (?:product|products|fluid|"
    r"liquid|spray)|lye|ammonia|battery|batteries|button batter(?:y|ies)|lighter fluid|"
    r"gasoline|petrol|kerosene|paint thinner|turpentine|pesticides?|insecticides?|"
    r"weed killer|rat bait|windshield washer fluid|methanol|nail polish remover|acetone|"
    r"hand sanitizer|essential oils?|mothballs?|lamp oil|fentanyl|iron pills|"
    r"(?:my|his|her|their|\w+s) (?:pills|tablets|meds|medicine|medication)"
)

_MEDICINES = (
    r"pills|tablets|capsules|tylenol|acetaminophen|paracetamol|advil|motrin|ibuprofen|aspirin|"
    r"aleve|naproxen|benadryl|xanax|valium|ambien|oxy|oxycodone|oxycontin|percocet|vicodin|"
    r"hydrocodone|codeine|tramadol|morphine|insulin"
)

_OVERDOSE_POISONING = _Rule(
    kind="poisoning_adult",
    urgent=_phrases(
        r"overdosed",
        r"(?:took|taken|had|take) (?:a |an )?overdose",
        r"(?:took|taken|swallowed) (?:way )?too (?:many|much)",
        r"(?:took|taken|swallowed|ate|drank) (?:a |the |an )?(?:whole|entire|full) (?:bottle|"
        r"pack|packet|box|blister|strip|sheet|tub|jar)",
        r"(?:took|taken|swallowed|ate) (?:all|a lot|lots|a bunch|a handful|handfuls|loads|"
        r"tons) of (?:\w+ ){0,2}(?:pills|tablets|meds|medicine|medication|medications|capsules)",
        r"(?:took|taken|swallowed) (?:\d{2,}|twenty|thirty|forty|fifty|a hundred) "
        r"(?:\w+ )?(?:" + _MEDICINES + ")",
        r"(?:swallowed|drank|drunk|ate|eaten|ingested|got into|chewed|licked|inhaled|huffed) "
        r"(?:(?:some|a|an|the|of|little|bit|lot|few|whole|cup|glass|sip|mouthful|bottle|"
        r"handful|into) ){0,4}(?:" + _SUBSTANCES + ")",
    ),
    symptoms=_phrases(
        r"(?:im|i am|is|hes|shes|are|think|might be|may be|maybe|been) overdosing",
        r"(?:was|been|got|is|am|are|were|being|im|hes|shes) poisoned",
        r"carbon monoxide (?:alarm|detector|leak|poisoning)",
        r"co (?:alarm|detector) (?:is )?(?:going off|beeping)",
    ),
)

_BREATHING = _Rule(
    kind="breathing",
    urgent=_phrases(
        _CANT + r" (?:" + _BREATHE + r"|get (?:any |enough )?(?:air|breath)|catch "
        r"(?:my|his|her|their|a) breath)",
        r"(?:not|isnt|stopped|wasnt|is not) breathing",
        r"gasping (?:for )?(?:air|breath)",
    ),
    symptoms=_phrases(
        *_HARD_TO_BREATHE,
        r"(?:is|are|im|am|hes|shes|started|keeps|was|just|still) choking",
        r"(?:lips|face|skin) (?:(?:are|is|turning|turned|going|gone) ){0,2}(?:blue|grey|gray)",
        r"inhaler (?:is |)(?:not|isnt) (?:working|helping)",
        r"severe asthma attack",
        r"(?:very|really|extremely|severely) short of breath",
        r"severe shortness of breath",
    ),
)

_UNCONSCIOUS = _Rule(
    kind="unconscious",
    urgent=None,
    symptoms=_phrases(
        r"(?:is|was|went|been|seems|still|now|lying|fell|found \w+|knocked) unconscious",
        r"unresponsive",
        r"(?:he|she|they|it|hes|shes|baby|child|kid|son|daughter|husband|wife|dad|mom|mum|"
        r"father|mother|friend|partner|brother|sister|grandma|grandpa) (?:wont|will not|isnt|is "
        r"not|doesnt|does not|cant be) (?:wake|waking|woken|woke)(?: up)?",
        _CANT + r" (?:wake|rouse) (?:him|her|them|(?:my|his|her|our) \w+)",
        r"(?:not|isnt|is not|wont|doesnt) (?:respond|responding|responsive) to (?:me|us|"
        r"anything|touch|voice|his name|her name|their name)",
        r"(?:he|she|i|they|hes|shes|just|suddenly) collapsed",
    ),
)

_SEIZURE = _Rule(
    kind="seizure",
    urgent=None,
    symptoms=_phrases(
        r"having (?:a |an )?(?:seizure|convulsion)s?",
        r"seizing|convulsing",
        r"seizure (?:wont|will not|isnt|is not|hasnt|has not|not) stop\w*",
        r"seizure (?:for|lasting|lasted|over) (?:more than |over |)(?:\d+|five|ten|two|three) "
        r"(?:minutes|mins)",
        r"jerking (?:all over|uncontrollably)",
        r"just had (?:a |his |her |their )?(?:first )?seizure",
    ),
)

_SUICIDE = _Rule(
    kind="suicide",
    urgent=_phrases(
        r"kill(?:ed|ing)? (?:myself|my self|himself|herself|themselves|themself)",
        r"(?:end|ending|take|taking) (?:my|his|her|their) (?:own )?life",
        r"end it all|ending it all",
        r"(?:want|wanted|ready|planning|plan|trying|tried|wish) to die",
        r"wanna die",
        r"(?:want|wish) to be dead",
        r"wish (?:i|i was|i were) (?:was |were )?dead",
        r"better off dead|better off without me",
        r"(?:dont|do not|no longer|not) (?:really )?(?:want|wanna|wish) to (?:live(?! with)|be "
        r"alive|be here|exist|wake up|go on)",
        r"(?:no reason|nothing) to live for|no reason to live",
        r"(?:is not|isnt|aint|not) worth living",
        r"(?:want|wanna|going|gonna|need|urge) to (?:hurt|harm|cut|burn) (?:myself|my self)",
        r"how (?:many|much) (?:\w+ ){0,3}(?:to|would it take to|does it take to|will it take "
        r"to) (?:die|kill (?:myself|me)|overdose)",
    ),
    symptoms=_phrases(
        r"suicidal",
        r"(?:thinking|thought|thoughts|considering|contemplating|planning|plan) (?:about |of )?"
        r"(?:suicide|killing myself|ending my life|ending it)",
        r"(?:commit|committing|attempt|attempting) suicide",
        r"suicide (?:plan|note)",
        r"self harm(?:ing)?",
        r"(?:been|keep|started|am|im) (?:cutting|hurting|harming|burning) (?:myself|my self)",
        r"(?:cut|slit|slashed) (?:my|his|her|their) wrists?",
    ),
    even_if_long_standing=True,
)

_RULES = (
    _ANAPHYLAXIS,
    _CHEST_PAIN,
    _STROKE,
    _SEVERE_BLEEDING,
    _OVERDOSE_POISONING,
    _BREATHING,
    _UNCONSCIOUS,
    _SEIZURE,
    _SUICIDE,
)
