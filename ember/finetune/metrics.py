"""The evaluation metrics of Azure ML's ``compute_metrics`` component, by Azure's task and metric
names, so that a model evaluated on Ember reports the numbers (and keys) it would on Azure.

``compute(task, ground_truth, predictions, probabilities=None, config=None)`` returns a flat dict:
scalars (float) and a few lists (``confusion_matrix``, ``class_labels``, ``perplexities``). A
metric that the data leave undefined (R² of one row, AUC of a class never seen) is left out rather
than reported as NaN, which neither JSON nor a plot can carry.

How each metric is computed, and why:

- ``bleu_1``..``bleu_4``: implemented here. Azure calls Hugging Face evaluate's "bleu", which is
  the TensorFlow NMT ``compute_bleu``: corpus BLEU over sacrebleu's "13a" tokens, n-gram
  precisions up to order n clipped by the maximum count over the references, geometric mean, and
  a brevity penalty against the *shortest* reference of each row, no smoothing (``smooth: true``
  in the config adds Lin & Och's +1). Forty lines here beat importing evaluate + datasets; the
  tests check it against sacrebleu (13a, no smoothing), which agrees whenever the shortest
  reference is also the closest one. An all-empty prediction set scores 0 (the original divides by
  zero there).
- ``rouge1``, ``rouge2``, ``rougeL``, ``rougeLsum``: Google's ``rouge-score`` (what evaluate
  wraps), F-measure per row, best reference per row (``score_multi``), mean over rows. Azure's
  defaults: no stemming (``use_stemmer: true`` turns the Porter stemmer on), and its tokenizer,
  which keeps only ``[a-z0-9]`` so that text in other scripts scores 0; ``rouge_tokenizer:
  unicode`` in the config keeps every letter. Azure reports the median of 1,000 bootstrap means
  (evaluate's aggregator); the plain mean here is what that estimates, without the dice.
- ``exact_match``, ``f1_score`` (question answering; ``exact_match`` also for generation):
  SQuAD's normalisation (lowercase, no punctuation, no a/an/the, single spaces), token F1,
  the best reference per row, mean over rows. Two answers that normalise to nothing match (F1
  1.0, as SQuAD v2 scores it).
- classification: scikit-learn. Labels are compared as text (``1``, ``1.0`` and ``"1"`` are one
  class: CSV and JSON disagree on types), ordered numerically when they all are numbers. The
  ``_binary`` metrics exist for two classes, the positive one being the last label or
  ``positive_label``. ``weighted_accuracy`` weights each row by its class's frequency,
  ``norm_macro_recall`` is macro recall rescaled so that chance is 0, as Azure defines them. AUC
  and average precision (one-vs-rest; macro/weighted over the classes present in the ground truth)
  and ``log_loss`` need the probabilities: one row per example, a list in ``class_labels`` order,
  a dict label → probability, or for two classes the positive class's probability.
- regression: scikit-learn; ``normalized_*`` divide by the ground truth's range, as Azure does;
  ``spearman_correlation`` from SciPy.
- ``perplexities`` (fill-mask, or any language model): ``exp(-mean log-likelihood)`` per row from
  per-token natural-log likelihoods that the caller computed with the model; this module has no
  model, so text predictions for fill-mask are refused with that explanation.

Named-entity recognition is not here: Azure scores it per entity span (seqeval), which is more
than a tag-by-tag accuracy, and Ember has no token-classification models to evaluate yet.
"""

from __future__ import annotations

import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ember.errors import InvalidInputError
from ember.finetune._tabular_metrics import (
    Result,
    _classification,
    _kind,
    _multilabel,
    _numbers,
    _regression,
)

_GENERATION = ("rouge1", "rouge2", "rougeL", "bleu_1", "bleu_2", "bleu_3", "bleu_4",
               "exact_match")
_AVERAGES = ("macro", "micro", "weighted", "binary")
_CLASSIFICATION = (
    "accuracy", "balanced_accuracy", "weighted_accuracy", "norm_macro_recall",
    "matthews_correlation", "log_loss",
    *(f"{name}_{avg}" for name in ("precision_score", "recall_score", "f1_score", "AUC",
                                   "average_precision_score") for avg in _AVERAGES),
    "confusion_matrix", "class_labels")
_MULTILABEL = ("accuracy", "hamming_loss", "class_labels",
               *(f"{name}_{avg}" for name in ("precision_score", "recall_score", "f1_score",
                                              "AUC", "average_precision_score")
                 for avg in _AVERAGES[:3]))
_REGRESSION = ("r2_score", "explained_variance", "mean_absolute_error", "median_absolute_error",
               "root_mean_squared_error", "normalized_mean_absolute_error",
               "normalized_median_absolute_error", "normalized_root_mean_squared_error",
               "spearman_correlation")

#: Azure's task names → the metrics each reports.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "text-generation": _GENERATION,
    "chat-completion": _GENERATION,
    "text-summarization": ("rouge1", "rouge2", "rougeL", "rougeLsum"),
    "text-translation": ("bleu_1", "bleu_2", "bleu_3", "bleu_4"),
    "question-answering": ("exact_match", "f1_score"),
    "text-classification": _CLASSIFICATION,
    "tabular-classification": _CLASSIFICATION,
    "text-classification-multilabel": _MULTILABEL,
    "tabular-classification-multilabel": _MULTILABEL,
    "tabular-regression": _REGRESSION,
    "fill-mask": ("perplexities", "mean_perplexity"),
}
_ALIASES = {"summarization": "text-summarization", "translation": "text-translation",
            "text-completion": "text-generation"}
_TEXT_TASKS = ("text-generation", "chat-completion", "text-summarization", "text-translation",
               "question-answering")


def normalize_task(task: str) -> str:
    """Azure's spelling of ``task`` (``chat_completion`` → ``chat-completion``), or an error
    listing the tasks there are."""
    name = str(task).strip().lower().replace("_", "-")
    name = _ALIASES.get(name, name)
    if name not in TASK_METRICS:
        raise InvalidInputError(f"unknown task {task!r}; supported tasks: "
                                f"{', '.join(TASK_METRICS)}")
    return name


def compute(task: str, ground_truth: list[Any], predictions: list[Any],
            probabilities: list[Any] | None = None,
            config: dict[str, Any] | None = None) -> Result:
    """Every metric of ``task`` (or those in ``config["metrics"]``) for these rows.

    Raises :class:`InvalidInputError` naming the task, row or metric at fault."""
    task = normalize_task(task)
    config = dict(config or {})
    wanted = config.get("metrics")
    if wanted is not None:
        if isinstance(wanted, str) or not isinstance(wanted, (list, tuple)):
            raise InvalidInputError("config 'metrics' must be a list of metric names")
        unknown = [m for m in wanted if m not in TASK_METRICS[task]]
        if unknown:
            raise InvalidInputError(f"{task} has no metric {', '.join(map(str, unknown))}; "
                                    f"it has: {', '.join(TASK_METRICS[task])}")
    for name, rows in (("ground_truth", ground_truth), ("predictions", predictions)):
        if not isinstance(rows, (list, tuple)):
            raise InvalidInputError(f"{name} must be a list, not {type(rows).__name__}")
    if not predictions:
        raise InvalidInputError("no rows to evaluate: predictions is empty")
    if len(ground_truth) != len(predictions):
        raise InvalidInputError(f"ground_truth has {len(ground_truth)} rows but predictions "
                                f"has {len(predictions)}")
    if probabilities is not None and len(probabilities) != len(predictions):
        raise InvalidInputError(f"probabilities has {len(probabilities)} rows but predictions "
                                f"has {len(predictions)}")
    if task in _TEXT_TASKS:
        result = _text_metrics(task, _references(ground_truth), _texts(predictions), config)
    elif task == "fill-mask":
        result = perplexity(predictions)
    else:
        # scikit-learn warns where a metric is degenerate (one class only, a class never
        # predicted); the definitions above already say what those rows score.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if task == "tabular-regression":
                result = _regression(_numbers(ground_truth, "ground_truth"),
                                     _numbers(predictions, "predictions"))
            elif task.endswith("-multilabel"):
                result = _multilabel(ground_truth, predictions, probabilities)
            else:
                result = _classification(ground_truth, predictions, probabilities, config)
    if wanted is not None:
        result = {k: v for k, v in result.items() if k in wanted}
    return result


def _texts(rows: Sequence[Any]) -> list[str]:
    for i, row in enumerate(rows):
        if not isinstance(row, str):
            raise InvalidInputError(f"predictions[{i}] is {_kind(row)}, not text")
    return list(rows)


def _references(rows: Sequence[Any]) -> list[list[str]]:
    """Each row's references: a text, or a non-empty list of texts (any one may be matched)."""
    out = []
    for i, row in enumerate(rows):
        refs = [row] if isinstance(row, str) else row
        if (not isinstance(refs, (list, tuple)) or not refs
                or not all(isinstance(r, str) for r in refs)):
            raise InvalidInputError(f"ground_truth[{i}] is {_kind(row)}; expected a text or a "
                                    "non-empty list of texts")
        out.append(list(refs))
    return out


def _text_metrics(task: str, refs: list[list[str]], preds: list[str],
                  config: dict[str, Any]) -> Result:
    names = [n for n in TASK_METRICS[task] if n in (config.get("metrics") or TASK_METRICS[task])]
    result: Result = {}
    rouge_types = [n for n in names if n.startswith("rouge")]
    if rouge_types:
        result.update(rouge(refs, preds, rouge_types, use_stemmer=bool(config.get("use_stemmer")),
                            tokenizer=str(config.get("rouge_tokenizer", "default"))))
    orders = [int(n[5:]) for n in names if n.startswith("bleu_")]
    if orders:
        ref_tokens = [[tokenize_13a(r) for r in row] for row in refs]
        pred_tokens = [tokenize_13a(p) for p in preds]
        for n in orders:
            result[f"bleu_{n}"] = corpus_bleu(ref_tokens, pred_tokens, n,
                                              smooth=bool(config.get("smooth")))
    if "exact_match" in names:
        result["exact_match"] = _mean(max(float(normalize_answer(p) == normalize_answer(r))
                                          for r in row) for row, p in zip(refs, preds))
    if "f1_score" in names:
        result["f1_score"] = _mean(max(token_f1(p, r) for r in row)
                                   for row, p in zip(refs, preds))
    return result


def _mean(values: Any) -> float:
    items = list(values)
    return float(sum(items) / len(items))


# --- BLEU ---------------------------------------------------------------------------------

# sacrebleu's "13a" rules (mteval-v13a, the WMT standard), which evaluate's "bleu" uses.
_13A = ((re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
        (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),     # . and , unless after a digit
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),     # . and , unless before a digit
        (re.compile(r"([0-9])(-)"), r"\1 \2 "))          # - after a digit


def tokenize_13a(line: str) -> list[str]:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            line = line.replace(entity, char)
    line = f" {line} "
    for pattern, replacement in _13A:
        line = pattern.sub(replacement, line)
    return line.split()


def _ngrams(tokens: list[str], max_order: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i:i + n]) for n in range(1, max_order + 1)
                   for i in range(len(tokens) - n + 1))


def corpus_bleu(references: list[list[list[str]]], predictions: list[list[str]],
                max_order: int = 4, smooth: bool = False) -> float:
    """Corpus BLEU of tokenised rows (TensorFlow NMT's ``compute_bleu``, as evaluate's)."""
    matches, possible = [0] * max_order, [0] * max_order
    ref_length = pred_length = 0
    for refs, pred in zip(references, predictions):
        ref_length += min(len(r) for r in refs)     # the shortest reference, not the closest
        pred_length += len(pred)
        clip: Counter[tuple[str, ...]] = Counter()
        for ref in refs:
            clip |= _ngrams(ref, max_order)         # each n-gram's highest count in one ref
        for ngram, count in (_ngrams(pred, max_order) & clip).items():
            matches[len(ngram) - 1] += count
        for n in range(1, max_order + 1):
            possible[n - 1] += max(0, len(pred) - n + 1)
    if smooth:
        precisions = [(m + 1.0) / (p + 1.0) for m, p in zip(matches, possible)]
    else:
        precisions = [m / p if p else 0.0 for m, p in zip(matches, possible)]
    if pred_length == 0 or min(precisions) <= 0:
        return 0.0
    geo_mean = math.exp(sum(math.log(p) for p in precisions) / max_order)
    ratio = pred_length / ref_length if ref_length else math.inf
    return geo_mean * (1.0 if ratio > 1.0 else math.exp(1.0 - 1.0 / ratio))


# --- ROUGE --------------------------------------------------------------------------------

class _UnicodeTokenizer:
    """rouge-score's tokenisation with every script's letters kept, not only ``[a-z0-9]``."""

    def __init__(self, use_stemmer: bool) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer("ORIGINAL_ALGORITHM") if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        tokens = re.sub(r"[\W_]+", " ", text.lower()).split()
        if self._stemmer is not None:   # rouge-score stems words of four letters or more
            tokens = [self._stemmer.stem(t) if len(t) > 3 else t for t in tokens]
        return tokens


def rouge(references: list[list[str]], predictions: list[str], rouge_types: list[str],
          use_stemmer: bool = False, tokenizer: str = "default") -> dict[str, float]:
    """Mean F-measure per ROUGE type, each row scored against its best reference."""
    from ember.finetune._deps import require

    rouge_scorer = require("rouge_score.rouge_scorer")
    if tokenizer not in ("default", "unicode"):
        raise InvalidInputError(f"rouge_tokenizer must be 'default' or 'unicode', not "
                                f"{tokenizer!r}")
    scorer = rouge_scorer.RougeScorer(
        rouge_types, use_stemmer=use_stemmer,
        tokenizer=_UnicodeTokenizer(use_stemmer) if tokenizer == "unicode" else None)
    totals = dict.fromkeys(rouge_types, 0.0)
    for refs, pred in zip(references, predictions):
        scores = scorer.score_multi(refs, pred)
        for name in rouge_types:
            totals[name] += scores[name].fmeasure
    return {name: total / len(predictions) for name, total in totals.items()}


# --- question answering -------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's: lowercase, drop punctuation and the articles a/an/the, single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def token_f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


# --- perplexity ---------------------------------------------------------------------------

def perplexity(log_likelihoods: Sequence[Any]) -> Result:
    """Per-row ``exp(-mean log-likelihood)`` from per-token natural-log likelihoods."""
    rows: list[float] = []
    for i, row in enumerate(log_likelihoods):
        if isinstance(row, str):
            raise InvalidInputError(
                f"predictions[{i}] is text; perplexity needs each row's per-token log-likelihoods "
                "(natural log) under the model, a list of numbers ≤ 0, which the caller computes "
                "with the model (this module has none)")
        if (not isinstance(row, (list, tuple)) or not row
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)):
            raise InvalidInputError(f"predictions[{i}] is {_kind(row)}; expected a non-empty "
                                    "list of per-token log-likelihoods")
        if any(v > 0 or math.isnan(v) for v in row):
            raise InvalidInputError(f"predictions[{i}] has a log-likelihood above 0 or NaN: "
                                    "log-probabilities are ≤ 0")
        try:
            rows.append(math.exp(-sum(row) / len(row)))
        except OverflowError:
            raise InvalidInputError(f"predictions[{i}]: perplexity overflows a float") from None
    return {"perplexities": rows, "mean_perplexity": _mean(rows)}
