"""Word alignment of a hypothesis against its reference, for error breakdowns and
word-time checks."""


def align_words(reference: list[str], hypothesis: list[str]) -> list[tuple[str | None, str | None]]:
    """A minimum-edit alignment of two word sequences as (reference word, hypothesis
    word) pairs; ``None`` on one side marks an insertion or a deletion.

    >>> align_words(["the", "red", "cat"], ["the", "cat", "sat", "down"])
    [('the', 'the'), ('red', None), ('cat', 'cat'), (None, 'sat'), (None, 'down')]
    """
    n, m = len(reference), len(hypothesis)
    # cost: (edits, -matches): fewest edits, and among those the most exact matches
    cost = [
        [(i + j, 0) if i == 0 or j == 0 else (0, 0) for j in range(m + 1)] for i in range(n + 1)
    ]

    def diagonal(i: int, j: int) -> tuple[int, int]:
        same = reference[i - 1] == hypothesis[j - 1]
        return cost[i - 1][j - 1][0] + (not same), cost[i - 1][j - 1][1] - same

    for i in range(1, n + 1):
        for j in range(1, m + 1):
            up, left = cost[i - 1][j], cost[i][j - 1]
            cost[i][j] = min(diagonal(i, j), (up[0] + 1, up[1]), (left[0] + 1, left[1]))
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == diagonal(i, j):
            pairs.append((reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and (j == 0 or cost[i][j] == (cost[i - 1][j][0] + 1, cost[i - 1][j][1])):
            pairs.append((reference[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hypothesis[j - 1]))
            j -= 1
    return pairs[::-1]
