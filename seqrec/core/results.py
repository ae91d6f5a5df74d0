"""What the models give, torch-free: a classifier's :class:`Prediction`, a
:class:`Transcript` with its :class:`WordTime` s, and the greedy CTC path and word
times behind them, for the loaded models of :mod:`seqrec.api` (a checkpoint's or an
export's) and the CTC searches of :mod:`seqrec.core.ctc_search`."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqrec.text.tokenizers import WORD_BOUNDARY, Tokenizer


@dataclass
class Prediction:
    label: str
    score: float
    top_k: list[tuple[str, float]] = field(default_factory=list)
    input: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "label": self.label,
            "score": self.score,
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
        }


def top_predictions(
    probs: np.ndarray, labels: Sequence[str], names: Sequence[str], top_k: int
) -> list[Prediction]:
    """A :class:`Prediction` per row of (N, C) class probabilities, named by ``names``:
    the ``top_k`` labels, most probable first (ties in label order), probabilities
    rounded to 6 places.

    >>> top_predictions(np.array([[0.2, 0.5, 0.3]]), ["no", "yes", "up"], ["a.wav"], 2)
    [Prediction(label='yes', score=0.5, top_k=[('yes', 0.5), ('up', 0.3)], input='a.wav')]
    """
    k = min(top_k, len(labels))
    predictions = []
    for row, name in zip(probs, names, strict=True):
        best = np.argsort(-row, kind="stable")[:k]
        top = [(labels[j], round(float(row[j]), 6)) for j in best]
        predictions.append(Prediction(label=top[0][0], score=top[0][1], top_k=top, input=name))
    return predictions


@dataclass(frozen=True)
class WordTime:
    """A word and where it was heard, in seconds from the start of the input."""

    word: str
    start: float
    end: float

    def as_dict(self) -> dict[str, str | float]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)}


@dataclass
class Transcript:
    """A transcript, with its words' times when asked for
    (:meth:`seqrec.api.Transcriber.transcribe_with_times`)."""

    text: str
    words: list[WordTime] = field(default_factory=list)
    input: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "text": self.text, "words": [w.as_dict() for w in self.words]}


@dataclass
class Hypothesis:
    """A decoded utterance: its text, and its tokens (class indices, blanks and
    repeats removed) with the output frame at which each was emitted."""

    text: str
    tokens: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)


def best_paths(
    best: np.ndarray, lengths: Sequence[int], blank: int = 0
) -> list[tuple[list[int], list[int]]]:
    """Per utterance of (B, T) top tokens per frame (the argmax of the scores): the
    path's tokens, repeats merged and blanks dropped, and the frame where each token's
    run of frames begins. Frames past ``lengths`` are ignored.

    >>> best_paths(np.array([[0, 3, 3, 0, 3, 5, 5, 0]]), [7])
    [([3, 3, 5], [1, 4, 5])]
    """
    paths = []
    for path, length in zip(best, np.asarray(lengths).tolist(), strict=True):
        path = path[:length]
        starts = np.ones(path.shape, dtype=bool)
        starts[1:] = path[1:] != path[:-1]
        frames = np.flatnonzero(starts & (path != blank))
        paths.append((path[frames].tolist(), frames.tolist()))
    return paths


def greedy_hypotheses(
    best: np.ndarray, lengths: Sequence[int], tokenizer: Tokenizer
) -> list[Hypothesis]:
    """:func:`best_paths` (blank 0) as hypotheses, their text decoded by ``tokenizer``."""
    return [
        Hypothesis(tokenizer.decode(ids), ids, frames) for ids, frames in best_paths(best, lengths)
    ]


def word_times(
    hypothesis: Hypothesis, tokenizer: Tokenizer, frame_seconds: float, offset: float = 0.0
) -> list[WordTime]:
    """The words of a hypothesis with their times.

    A CTC model emits each token at a spike of one or a few frames, so a word's time
    is where the model fired: it starts at the frame of its first token and ends one
    frame after its last. Words are split at the word boundary token (a space) and
    before every SentencePiece piece that begins a word (``▁``).

    Args:
        hypothesis: from :meth:`seqrec.core.ctc_search.CTCSearch.decode`.
        tokenizer: the model's :class:`~seqrec.text.Tokenizer`.
        frame_seconds: seconds between the model's output frames.
        offset: seconds added to every time (where the decoded audio began).

    >>> from seqrec.text import CharTokenizer
    >>> tok = CharTokenizer()
    >>> hyp = Hypothesis("hi yo", tok.encode("hi yo"), [2, 3, 6, 9, 10])
    >>> [w.as_dict() for w in word_times(hyp, tok, 0.04)]
    [{'word': 'hi', 'start': 0.08, 'end': 0.16}, {'word': 'yo', 'start': 0.36, 'end': 0.44}]
    """
    pieces = tokenizer.decoder_tokens()
    words: list[tuple[list[int], int, int]] = []  # token ids, first frame, last frame
    current: list[int] = []
    first = last = 0
    for token, frame in zip(hypothesis.tokens, hypothesis.frames, strict=True):
        piece = pieces[token]
        if (piece == WORD_BOUNDARY or piece.startswith("▁")) and current:
            words.append((current, first, last))
            current = []
        if piece == WORD_BOUNDARY:
            continue
        if not current:
            first = frame
        current.append(token)
        last = frame
    if current:
        words.append((current, first, last))
    times = []
    for tokens, first, last in words:
        word = tokenizer.decode(tokens).strip()
        if word:
            times.append(
                WordTime(word, offset + first * frame_seconds, offset + (last + 1) * frame_seconds)
            )
    return times


def chunk_transcript(
    hypothesis: Hypothesis,
    tokenizer: Tokenizer,
    frame_seconds: float,
    offset: float,
    with_times: bool,
) -> Transcript:
    """The transcript of one chunk that starts ``offset`` seconds into its recording,
    with word times if ``with_times``."""
    words = word_times(hypothesis, tokenizer, frame_seconds, offset) if with_times else []
    return Transcript(hypothesis.text, words)


def join_transcripts(
    parts: Sequence[Transcript], owners: Sequence[int], count: int
) -> list[Transcript]:
    """``count`` transcripts, each the chunks of ``parts`` whose ``owners`` entry is its
    index, joined in order (chunks without text add nothing).

    >>> parts = [Transcript("a"), Transcript(""), Transcript("b"), Transcript("c")]
    >>> [t.text for t in join_transcripts(parts, [0, 0, 0, 1], 3)]
    ['a b', 'c', '']
    """
    joined = [Transcript("") for _ in range(count)]
    for owner, part in zip(owners, parts, strict=True):
        if part.text:
            whole = joined[owner]
            whole.text = f"{whole.text} {part.text}" if whole.text else part.text
            whole.words.extend(part.words)
    return joined
