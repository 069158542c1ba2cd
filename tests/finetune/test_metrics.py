"""ember.finetune.metrics against the metric libraries themselves, computed here on small
hand-made data: every number Ember reports must be the one the reference implementation gives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sklearn import metrics as skm

from ember.errors import InvalidInputError
from ember.finetune.metrics import TASK_METRICS, compute, tokenize_13a

PREDICTIONS = ["the cat is sitting on a mat today", "a quick brown fox jumps over dogs",
               "hello world, it is 3.5 degrees", "nothing in common here at all"]
REFERENCES = ["the cat is sitting on the mat", "the quick brown fox jumped over the dog",
              "Hello world! It's 3.5 degrees.", "completely different words entirely"]


def sacre_bleu(predictions: list[str], reference_streams: list[list[str]], n: int) -> float:
    # sacrebleu with evaluate's settings: 13a tokens, no smoothing, order n, no "effective
    # order". It takes the reference closest in length for the brevity penalty where evaluate
    # takes the shortest: the data below keep the two the same.
    bleu = BLEU(tokenize="13a", smooth_method="none", max_ngram_order=n, effective_order=False)
    return bleu.corpus_score(predictions, reference_streams).score / 100


@pytest.mark.parametrize("text", [
    "Hello, world! 3.5 e-mail &amp; x-1 (a) [b] {c}", "It's 1,000.5 -- end.",
    "café naïve — Straße 東京 2-3", "a\nb-\nc <skipped> &quot;q&quot; &lt;t&gt;", ""])
def test_13a_tokens_are_sacrebleus(text: str) -> None:
    assert tokenize_13a(text) == Tokenizer13a()(text).split()


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_bleu_n_is_corpus_bleu_of_order_n(n: int) -> None:
    got = compute("text-translation", REFERENCES, PREDICTIONS)[f"bleu_{n}"]
    assert isinstance(got, float)
    assert got == pytest.approx(sacre_bleu(PREDICTIONS, [REFERENCES], n), abs=1e-12)
    assert 0 < got < 1


def test_bleu_with_multiple_references_clips_by_the_best_reference() -> None:
    refs = [["the cat is on the mat", "there is a cat on the mat"],
            ["a red apple fell down", "an apple that is red fell"]]
    preds = ["the cat the cat on mat", "a red apple fell"]
    got = compute("text-translation", refs, preds)
    for n in (1, 2, 3, 4):
        want = sacre_bleu(preds, [[r[0] for r in refs], [r[1] for r in refs]], n)
        assert got[f"bleu_{n}"] == pytest.approx(want, abs=1e-12)


def test_bleu_brevity_penalty_uses_the_shortest_reference() -> None:
    # evaluate (TensorFlow NMT) takes the shortest reference: 6 tokens against a 2-token
    # reference, so no penalty, and precision 2/6 for unigrams (sacrebleu would take the
    # 7-token reference as closest and penalise).
    got = compute("text-translation", [["x y", "a b c d e f g"]], ["a b c u v w"],
                  config={"metrics": ["bleu_1"]})
    assert got == {"bleu_1": pytest.approx(3 / 6)}


def test_bleu_edges_identical_disjoint_empty_and_smoothing() -> None:
    same = compute("text-translation", ["a b c d e"], ["a b c d e"])
    assert all(v == pytest.approx(1.0) for v in same.values())
    assert set(compute("text-translation", ["a b c"], ["x y z"]).values()) == {0.0}
    assert set(compute("text-translation", ["a b c", "d e"], ["", ""]).values()) == {0.0}
    # one empty prediction among others only shortens the corpus (the brevity penalty)
    mixed = compute("text-translation", ["a b c d", "e f"], ["a b c d", ""])["bleu_1"]
    assert mixed == pytest.approx(sacre_bleu(["a b c d", ""], [["a b c d", "e f"]], 1))
    # Lin & Och smoothing: (matches + 1) / (possible + 1) at every order.
    smooth = compute("text-translation", ["a b c d"], ["a b x y"],
                     config={"smooth": True, "metrics": ["bleu_2"]})["bleu_2"]
    assert smooth == pytest.approx(math.sqrt((3 / 5) * (2 / 4)))


def test_bleu_on_unicode_text() -> None:
    refs, preds = ["Ein Café in München, schön!", "東京 は 大きい"], ["Das Café in München!",
                                                                   "東京 は 小さい"]
    got = compute("text-translation", refs, preds)
    for n in (1, 2):
        assert got[f"bleu_{n}"] == pytest.approx(sacre_bleu(preds, [refs], n), abs=1e-12)


@pytest.mark.parametrize("stem", [False, True])
def test_rouge_is_rouge_scores_mean_f_measure(stem: bool) -> None:
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
    rows = [scorer.score(r, p) for r, p in zip(REFERENCES, PREDICTIONS)]
    got = compute("text-summarization", REFERENCES, PREDICTIONS, config={"use_stemmer": stem})
    assert got == {t: pytest.approx(np.mean([row[t].fmeasure for row in rows])) for t in types}


def test_rouge_takes_each_rows_best_reference_and_handles_edges() -> None:
    refs = [["the cat sat", "a dog ran fast"], ["same text"], ["x"]]
    preds = ["a dog ran", "same text", ""]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    want = np.mean([scorer.score_multi(r, p)["rouge1"].fmeasure for r, p in zip(refs, preds)])
    got = compute("text-generation", refs, preds)
    assert got["rouge1"] == pytest.approx(want)
    assert compute("text-summarization", ["same text"], ["same text"])["rougeLsum"] == 1.0
    assert compute("text-summarization", ["a b"], ["c d"])["rouge1"] == 0.0


def test_rouge_default_tokenizer_drops_other_scripts_unless_asked() -> None:
    # Azure's (rouge-score's) tokenizer keeps [a-z0-9] only: Japanese scores 0 even when equal.
    ja = "東京 は 大きい 都市"
    assert compute("text-summarization", [ja], [ja])["rouge1"] == 0.0
    assert rouge_scorer.RougeScorer(["rouge1"]).score(ja, ja)["rouge1"].fmeasure == 0.0
    got = compute("text-summarization", [ja, "Les cafés"], [ja, "les CAFÉS étaient"],
                  config={"rouge_tokenizer": "unicode"})
    assert got["rouge1"] == pytest.approx((1.0 + 0.8) / 2)


def test_question_answering_is_squad_exact_match_and_f1() -> None:
    # Worked by hand from SQuAD's definitions (no installed library carries them):
    # row 1 normalises to "eiffel tower" on both sides; row 2 "paris" vs "paris france":
    # P 1, R 1/2, F1 2/3, best of its two references; row 3 shares nothing.
    truth = ["The Eiffel Tower.", ["Paris, France", "in Paris France"], "blue"]
    preds = ["eiffel  tower", "Paris!", "red"]
    got = compute("question-answering", truth, preds)
    assert got == {"exact_match": pytest.approx(1 / 3),
                   "f1_score": pytest.approx((1 + 2 / 3 + 0) / 3)}
    assert compute("question-answering", ["the"], ["a"]) == {"exact_match": 1.0,
                                                              "f1_score": 1.0}
    assert compute("question-answering", ["x"], [""]) == {"exact_match": 0.0, "f1_score": 0.0}


def test_generation_reports_azures_names() -> None:
    got = compute("chat_completion", REFERENCES, PREDICTIONS)
    assert list(got) == list(TASK_METRICS["chat-completion"])
    assert {"rouge1", "rouge2", "bleu_3", "bleu_4"} <= set(got)


def test_multiclass_classification_is_sklearns() -> None:
    y = ["cat", "dog", "bird", "cat", "dog", "bird", "cat"]
    p = ["cat", "dog", "cat", "cat", "bird", "bird", "dog"]
    probs = [[.1, .7, .2], [.2, .1, .7], [.3, .5, .2], [.1, .8, .1], [.5, .2, .3],
             [.6, .3, .1], [.2, .4, .4]]                       # columns: bird, cat, dog
    labels = ["bird", "cat", "dog"]
    got = compute("text-classification", y, p, probs)
    want = {"accuracy": skm.accuracy_score(y, p),
            "balanced_accuracy": skm.balanced_accuracy_score(y, p),
            "matthews_correlation": skm.matthews_corrcoef(y, p),
            "log_loss": skm.log_loss(y, probs, labels=labels),
            "norm_macro_recall": (skm.recall_score(y, p, average="macro") - 1 / 3) / (2 / 3)}
    for name, fn in (("precision_score", skm.precision_score),
                     ("recall_score", skm.recall_score), ("f1_score", skm.f1_score)):
        for avg in ("macro", "micro", "weighted"):
            want[f"{name}_{avg}"] = fn(y, p, average=avg, zero_division=0)
    for avg in ("macro", "weighted"):
        want[f"AUC_{avg}"] = skm.roc_auc_score(y, probs, multi_class="ovr", average=avg,
                                               labels=labels)
    onehot = np.array([[c == v for c in labels] for v in y], dtype=int)
    want["AUC_micro"] = skm.roc_auc_score(onehot, np.array(probs), average="micro")
    for avg in ("macro", "micro", "weighted"):
        want[f"average_precision_score_{avg}"] = skm.average_precision_score(
            onehot, np.array(probs), average=avg)
    counts = {c: y.count(c) / len(y) for c in labels}
    want["weighted_accuracy"] = skm.accuracy_score(y, p, sample_weight=[counts[v] for v in y])
    for name, value in want.items():
        assert got[name] == pytest.approx(value), name
    assert got["confusion_matrix"] == skm.confusion_matrix(y, p, labels=labels).tolist()
    assert got["class_labels"] == labels
    assert not any(k.endswith("_binary") for k in got)


def test_binary_classification_with_a_positive_label_and_mixed_label_types() -> None:
    y, p = [0, 1, 1, 0, 1, 0], ["0", "1", "0", "0", "1", "1"]   # JSON ints vs CSV text
    positive = [.2, .9, .4, .3, .8, .6]
    got = compute("tabular-classification", y, p, positive)
    yp = [int(v) for v in p]
    assert got["precision_score_binary"] == pytest.approx(skm.precision_score(y, yp))
    assert got["f1_score_binary"] == pytest.approx(skm.f1_score(y, yp))
    assert got["AUC_binary"] == pytest.approx(skm.roc_auc_score(y, positive))
    assert got["AUC_macro"] == pytest.approx(skm.roc_auc_score(y, positive))
    assert got["average_precision_score_binary"] == pytest.approx(
        skm.average_precision_score(y, positive))
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, positive))
    other = compute("tabular-classification", y, p, [{"0": 1 - q, "1": q} for q in positive],
                    config={"positive_label": 0})
    assert other["recall_score_binary"] == pytest.approx(skm.recall_score(y, yp, pos_label=0))
    assert other["AUC_binary"] == pytest.approx(skm.roc_auc_score([1 - v for v in y],
                                                                  [1 - q for q in positive]))


def test_multilabel_classification_is_sklearns() -> None:
    y = [["a"], ["a", "b"], ["c"], ["b", "c"]]
    p = [["a"], ["b"], ["c", "a"], ["b", "c"]]
    probs = [[.9, .1, .2], [.4, .7, .1], [.6, .2, .8], [.1, .9, .7]]
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]])
    P = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 1, 1]])
    got = compute("text-classification-multilabel", y, p, probs)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(Y, P))
    assert got["hamming_loss"] == pytest.approx(skm.hamming_loss(Y, P))
    for avg in ("macro", "micro", "weighted"):
        assert got[f"f1_score_{avg}"] == pytest.approx(skm.f1_score(Y, P, average=avg))
        assert got[f"precision_score_{avg}"] == pytest.approx(
            skm.precision_score(Y, P, average=avg))
        assert got[f"AUC_{avg}"] == pytest.approx(skm.roc_auc_score(Y, probs, average=avg))
        assert got[f"average_precision_score_{avg}"] == pytest.approx(
            skm.average_precision_score(Y, probs, average=avg))


def test_regression_is_sklearns() -> None:
    from scipy.stats import spearmanr

    y, p = [3.0, -0.5, 2.0, 7.0, 4.2], [2.5, 0.0, 2.0, 8.0, 3.9]
    got = compute("tabular-regression", y, ["2.5", 0, 2, 8, 3.9])     # CSV text is a number
    spread = 7.5
    assert got == pytest.approx({
        "r2_score": skm.r2_score(y, p), "explained_variance": skm.explained_variance_score(y, p),
        "mean_absolute_error": skm.mean_absolute_error(y, p),
        "median_absolute_error": skm.median_absolute_error(y, p),
        "root_mean_squared_error": skm.root_mean_squared_error(y, p),
        "normalized_mean_absolute_error": skm.mean_absolute_error(y, p) / spread,
        "normalized_median_absolute_error": skm.median_absolute_error(y, p) / spread,
        "normalized_root_mean_squared_error": skm.root_mean_squared_error(y, p) / spread,
        "spearman_correlation": spearmanr(y, p).statistic})
    one = compute("tabular-regression", [1.0], [2.0])    # R² of one row is undefined: left out
    assert one == {"mean_absolute_error": 1.0, "median_absolute_error": 1.0,
                   "root_mean_squared_error": 1.0}


def test_perplexity_from_token_log_likelihoods_is_torchs() -> None:
    import torch

    torch.manual_seed(0)
    logits, targets = torch.randn(2, 5, 11), torch.randint(0, 11, (2, 5))
    logprobs = torch.log_softmax(logits, -1).gather(-1, targets[..., None])[..., 0]
    rows = [logprobs[0].tolist(), logprobs[1, :3].tolist()]
    want = [math.exp(torch.nn.functional.cross_entropy(logits[0], targets[0]).item()),
            math.exp(torch.nn.functional.cross_entropy(logits[1, :3], targets[1, :3]).item())]
    got = compute("fill-mask", ["", ""], rows)
    assert got["perplexities"] == pytest.approx(want, rel=1e-5)
    assert got["mean_perplexity"] == pytest.approx(sum(want) / 2, rel=1e-5)


def test_config_metrics_selects_a_subset() -> None:
    got = compute("text-generation", ["a b c"], ["a b c"], config={"metrics": ["bleu_4"]})
    assert got == {"bleu_4": pytest.approx(0.0)}    # three tokens have no 4-gram


# --- bad inputs: each names what is wrong -------------------------------------------------

def test_unknown_task_lists_the_supported_ones() -> None:
    with pytest.raises(InvalidInputError, match="unknown task 'image-captioning'.*"
                                                "text-generation.*tabular-regression"):
        compute("image-captioning", ["a"], ["a"])


def test_mismatched_lengths() -> None:
    with pytest.raises(InvalidInputError, match="ground_truth has 2 rows but predictions has 1"):
        compute("text-generation", ["a", "b"], ["a"])


def test_probabilities_of_another_length() -> None:
    with pytest.raises(InvalidInputError, match="probabilities has 1 rows but predictions has 2"):
        compute("tabular-classification", [0, 1], [0, 1], [0.3])


def test_empty_inputs() -> None:
    with pytest.raises(InvalidInputError, match="no rows to evaluate"):
        compute("question-answering", [], [])


def test_non_text_prediction() -> None:
    with pytest.raises(InvalidInputError, match=r"predictions\[1\] is int '5', not text"):
        compute("text-summarization", ["a", "b"], ["a", 5])


def test_missing_ground_truth_text() -> None:
    with pytest.raises(InvalidInputError, match=r"ground_truth\[0\] is None"):
        compute("text-generation", [None], ["a"])


def test_missing_class_label() -> None:
    with pytest.raises(InvalidInputError, match=r"predictions\[1\] is empty"):
        compute("text-classification", ["a", "b"], ["a", None])


def test_unknown_metric_in_config() -> None:
    with pytest.raises(InvalidInputError, match="question-answering has no metric bleu_4"):
        compute("question-answering", ["a"], ["a"], config={"metrics": ["bleu_4"]})


def test_probabilities_with_the_wrong_width() -> None:
    with pytest.raises(InvalidInputError, match=r"probabilities\[0\].*expected 3 probabilities"):
        compute("text-classification", ["a", "b", "c"], ["a", "b", "c"], [[.5, .5]] * 3)


def test_probabilities_that_do_not_sum_to_one() -> None:
    with pytest.raises(InvalidInputError, match=r"probabilities\[1\] is not a distribution"):
        compute("text-classification", ["a", "b"], ["a", "b"], [[.5, .5], [.9, .9]])


def test_regression_value_that_is_not_a_number() -> None:
    with pytest.raises(InvalidInputError, match=r"ground_truth\[1\] is str 'n/a'"):
        compute("tabular-regression", [1, "n/a"], [1, 2])


def test_fill_mask_needs_log_likelihoods_not_text() -> None:
    with pytest.raises(InvalidInputError, match="perplexity needs each row's per-token"):
        compute("fill-mask", ["x"], ["some text"])


def test_multilabel_row_that_is_not_a_list() -> None:
    with pytest.raises(InvalidInputError, match=r"ground_truth\[0\] is str 'a'.*lists of labels"):
        compute("text-classification-multilabel", ["a"], [["a"]])


def test_multilabel_probabilities_that_are_not_numbers() -> None:
    with pytest.raises(InvalidInputError, match="probabilities must have 2 columns"):
        compute("text-classification-multilabel", [["a"], ["b"]], [["a"], ["b"]], ["x", "y"])
