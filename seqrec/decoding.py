"""Decoding CTC outputs."""

import torch


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0
) -> list[list[int]]:
    """Best path decoding: take the top token per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) scores per frame; padded frames are ignored.
        lengths: (B,) real frame counts.
        blank: index of the CTC blank.

    >>> frames = torch.tensor([[0, 3, 3, 0, 3, 5, 5, 0]])  # blank = 0
    >>> ctc_greedy_decode(torch.nn.functional.one_hot(frames, 6).float(), torch.tensor([7]))
    [[3, 3, 5]]
    """
    best = log_probs.argmax(dim=-1).cpu()  # (B, T)
    hypotheses = []
    for path, length in zip(best, lengths.tolist(), strict=True):
        tokens = torch.unique_consecutive(path[:length])
        hypotheses.append(tokens[tokens != blank].tolist())
    return hypotheses
