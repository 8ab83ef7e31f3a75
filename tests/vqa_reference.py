"""A straight port of the current official VQA evaluation (GT-Vision-Lab/VQA,
``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` after its 2021 fix), for one question.

Kept in the tests, apart from ``seqbench.metrics.vqa``, as the reference the seeded
comparison holds seqbench against: same names, same order of steps, same quirks (the
``periodStrip.sub`` call whose ``re.UNICODE`` lands in ``count``; ``manualMap.setdefault``).
"""

from __future__ import annotations

import re

from seqbench.metrics.vqa import CONTRACTIONS

contractions = dict(CONTRACTIONS)  # the script's table, shared: a typo there shows in both
# fmt: off
manualMap = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}
# fmt: on
articles = ["a", "an", "the"]
periodStrip = re.compile(r"(?!<=\d)(\.)(?!\d)")
commaStrip = re.compile(r"(\d)(\,)(\d)")
# fmt: off
punct = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@",
         "`", ",", "?", "!"]
# fmt: on


def processPunctuation(inText: str) -> str:
    outText = inText
    for p in punct:
        if (p + " " in inText or " " + p in inText) or (re.search(commaStrip, inText) is not None):
            outText = outText.replace(p, "")
        else:
            outText = outText.replace(p, " ")
    outText = periodStrip.sub("", outText, re.UNICODE)
    return outText


def processDigitArticle(inText: str) -> str:
    outText = []
    tempText = inText.lower().split()
    for word in tempText:
        word = manualMap.setdefault(word, word)
        if word not in articles:
            outText.append(word)
    for wordId, word in enumerate(outText):
        if word in contractions:
            outText[wordId] = contractions[word]
    return " ".join(outText)


def evaluate_question(resAns: str, gt_answers: list[str]) -> float:
    """``avgGTAcc`` of the script's ``evaluate`` loop for one question (answers as dicts, each
    its own object, as ``answer_id`` makes them in the official files)."""
    answers = [{"answer": a, "answer_id": i} for i, a in enumerate(gt_answers)]
    for ansDic in answers:
        ansDic["answer"] = ansDic["answer"].replace("\n", " ")
        ansDic["answer"] = ansDic["answer"].replace("\t", " ")
        ansDic["answer"] = ansDic["answer"].strip()
    resAns = resAns.replace("\n", " ")
    resAns = resAns.replace("\t", " ")
    resAns = resAns.strip()
    gtAcc = []
    gtAnswers = [ans["answer"] for ans in answers]
    if len(set(gtAnswers)) > 1:
        for ansDic in answers:
            ansDic["answer"] = processPunctuation(ansDic["answer"])
            ansDic["answer"] = processDigitArticle(ansDic["answer"])
        resAns = processPunctuation(resAns)
        resAns = processDigitArticle(resAns)
    for gtAnsDatum in answers:
        otherGTAns = [item for item in answers if item != gtAnsDatum]
        matchingAns = [item for item in otherGTAns if item["answer"] == resAns]
        acc = min(1, float(len(matchingAns)) / 3)
        gtAcc.append(acc)
    return float(sum(gtAcc)) / len(gtAcc)
