"""VQA accuracy as the current official evaluation script computes it (GT-Vision-Lab/VQA,
``vqaEval.py`` after its 2021 fix), and the answer normaliser it uses.

Per question with several human answers (ten in VQA): whitespace is cleaned; then, only when
the human answers are not all identical, the prediction and every human answer go through the
punctuation pass and then the number-word / article / contraction pass. For each human, drop
that answer and score ``min(1, matches among the others / 3)``; the question scores the mean.

Worked values of the script: the prediction given by 1 of 10 humans -> 0.3, 2 -> 0.6,
3 -> 0.9, 4 or more -> 1.0; "Yes" against ten "yes" -> 0.0 (all agree, so nothing is
normalised); "Yes" against nine "yes" and one "no" -> 1.0.

One human answer (generated data such as Sort-of-CLEVR) is exact match after the full
normalisation: the script's leave-one-out rule would leave nothing to match and score 0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# fmt: off
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
# The current script's list (the 2015 one had ':' and "'" and lacked '{', '}', '-', '!').
PUNCTUATION = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
)
# fmt: on
# The script's own regexes (its period pattern has the odd "(?!<=" look-ahead; kept as is).
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
# The script calls ``periodStrip.sub("", text, re.UNICODE)``: the flag lands in ``count``, so
# at most 32 periods go; kept, so that long inputs score as they do there.
_PERIOD_COUNT = int(re.UNICODE)
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# Humans needed for full credit.
FULL_CREDIT_HUMANS = 3


def process_punctuation(text: str) -> str:
    """The script's punctuation pass: glued marks become spaces, spaced ones vanish."""
    out = text
    for mark in PUNCTUATION:
        if f"{mark} " in text or f" {mark}" in text or _COMMA_STRIP.search(text) is not None:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Lower-case, number words -> digits, drop articles, restore contractions."""
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES]
    return " ".join(words)


def _clean_whitespace(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_answer(text: str) -> str:
    """The script's full normalisation of one answer ("Two" -> "2", "the cat!" -> "cat")."""
    return process_digit_article(process_punctuation(_clean_whitespace(text)))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Accuracy in [0, 1] of one predicted answer against the human answers of one question.

    Several answers: the script's flow (normalise only when the answers differ, then the
    leave-one-out mean of ``min(1, matches / 3)``). One answer: exact match after
    :func:`normalize_answer` on both.
    """
    if not answers:
        raise ValueError("a question needs at least one human answer to be scored")
    predicted = _clean_whitespace(prediction)
    humans = [_clean_whitespace(a) for a in answers]
    if len(humans) == 1:
        return float(normalize_answer(predicted) == normalize_answer(humans[0]))
    if len(set(humans)) > 1:
        humans = [process_digit_article(process_punctuation(a)) for a in humans]
        predicted = process_digit_article(process_punctuation(predicted))
    matches = sum(h == predicted for h in humans)
    total = 0.0
    for human in humans:
        others = matches - (human == predicted)
        total += min(1.0, others / FULL_CREDIT_HUMANS)
    return total / len(humans)


def mean_accuracy(scores: Sequence[float]) -> float:
    """Accuracy in percent (0-100) over questions, as the official ``overall``."""
    return 100.0 * sum(scores) / len(scores) if scores else 0.0
