"""Open-vocabulary English sentences from a small generative grammar.

The text of the synthetic speech-to-text corpus. Sentences come from templates
(``TEMPLATES``) whose slots draw from word lists kept in this file, so the text
installs with seqrec and needs no download. Two properties make word error rate
meaningful on it:

- **No homophones in the vocabulary.** Every word was chosen so that no other word
  of the vocabulary sounds the same (``to`` is in, ``two`` and ``too`` are not;
  ``our`` is in, ``hour`` is not). A listener who hears a sentence correctly can
  therefore write it correctly; what a model gets wrong, it misheard.
  ``tests/test_asr.py`` checks this with eSpeak's own phonemes.
- **Held-out words.** :func:`split_vocabulary` sets aside a share of every open word
  class (nouns, adjectives, verbs, names, adverbs). Training sentences never use
  them; test sentences draw from the whole vocabulary, so a quarter or more of the
  word types of the test text are never seen in training.
"""

import hashlib
import re
from collections.abc import Sequence

import numpy as np


def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words("""apple basket bicycle blanket bottle bridge bucket butter button cabin camera
candle canyon carpet castle cat chair cheese cherry chicken church circle clock cloud
coat coffee collar copper corner cottage cousin cup curtain desk diamond dinner doctor
dog dolphin donkey door dragon drawer drum eagle engine farmer feather fence finger
forest fox garden glass glove goat guitar hammer harbor helmet hill island jacket
jungle kettle kitchen ladder lamp lemon letter library lion lizard map market meadow
mirror monkey mountain museum needle ocean owl painter palace pancake parrot pencil
pepper piano pillow pocket potato puppy rabbit radio river robot rocket saddle sailor
sandwich scarf school shadow sheep shelf shoe singer sister spider spoon squirrel
station stone student sugar table teacher tiger tomato tower train tree truck tunnel
turtle umbrella valley village violin wagon wallet window wizard wolf zebra barrel
beetle biscuit blossom cannon carrot crystal dentist factory falcon gadget lantern
magnet mitten napkin otter pebble pirate puzzle ribbon sparrow statue thimble trumpet
walrus whistle bakery balloon compass""")
ADJECTIVES = _words("""angry bright brave broken busy calm careful cheerful clever cold crooked
curious dark dusty eager empty enormous famous fancy friendly frozen gentle golden green
happy heavy hollow hungry little lonely lucky muddy narrow noisy polite proud purple
quiet rapid rusty shiny silent silly sleepy small smooth soft strange strong sturdy tall
tiny warm wet wild wooden yellow young bitter clumsy fluffy gloomy humble jolly merry
nervous patient sneaky spotted striped tidy wicked""")
VERBS = [
    tuple(pair.split("/"))
    for pair in _words("""carry/carried catch/caught chase/chased
clean/cleaned climb/climbed collect/collected cook/cooked draw/drew drop/dropped
find/found fix/fixed follow/followed grab/grabbed help/helped hide/hid hold/held
kick/kicked lift/lifted like/liked lose/lost move/moved open/opened paint/painted
pick/picked pull/pulled push/pushed visit/visited wash/washed watch/watched
borrow/borrowed bring/brought build/built forget/forgot give/gave keep/kept leave/left
love/loved mend/mended notice/noticed order/ordered polish/polished
remember/remembered share/shared show/showed touch/touched want/wanted admire/admired
bake/baked call/called count/counted deliver/delivered discover/discovered hug/hugged
juggle/juggled measure/measured protect/protected rescue/rescued sketch/sketched
squeeze/squeezed tickle/tickled""")
]  # (base, past)
NAMES = _words("""alice oliver emma lucas sophia henry mia jack isabel leo nora oscar ruby felix
clara hugo stella victor greta simon fiona martin paula dennis helen kevin laura peter
sarah thomas ada boris celia edgar gloria ivan julia milo nina rosa walter""")
ADVERBS = _words("""yesterday today tomorrow quickly slowly carefully quietly happily again
early later twice tonight suddenly gently loudly proudly eagerly""")
DETERMINERS = _words("the a every this that some his her our my your")
PREPOSITIONS = _words("in on under near behind beside with from into across above below inside")
PRONOUNS = _words("she he they we you")

TEMPLATES = (
    "{det} {adj} {noun} {past} {det} {noun}",
    "{name} {past} {det} {adj} {noun} {prep} {det} {noun}",
    "{pron} will {base} {det} {noun} {adv}",
    "{name} and {name} {past} {det} {noun} {adv}",
    "did {name} {base} {det} {adj} {noun}",
    "{det} {noun} {prep} {det} {noun} was {adj}",
    "{pron} can not {base} {det} {adj} {noun}",
    "{name} {past} {det} {adj} {noun} {prep} {det} {noun} {adv}",
    "{det} {adj} {noun} and {det} {adj} {noun} {past} {det} {noun}",
    "{name} said the {noun} was {adj} and {adj}",
    "{pron} {past} {det} {noun} with {det} {adj} {noun}",
    "why did {det} {noun} {base} {det} {noun}",
)
_SLOT = re.compile(r"\{(\w+)\}")


def grammar_fingerprint() -> str:
    """A hash of the word lists and templates: part of a corpus's settings, so a corpus
    made from another grammar is not reused."""
    text = repr((vocabulary(), DETERMINERS, PREPOSITIONS, PRONOUNS, TEMPLATES))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def vocabulary() -> dict[str, list]:
    """The open word classes (verbs as (base, past) pairs)."""
    return {"noun": NOUNS, "adj": ADJECTIVES, "verb": VERBS, "name": NAMES, "adv": ADVERBS}


def all_words() -> set[str]:
    """Every word the grammar can produce."""
    words = set(NOUNS) | set(ADJECTIVES) | set(NAMES) | set(ADVERBS) | set(DETERMINERS)
    words |= {w for pair in VERBS for w in pair} | set(PREPOSITIONS) | set(PRONOUNS) | {"an"}
    for template in TEMPLATES:
        words |= {w for w in _SLOT.sub(" ", template).split()}
    return words


def split_vocabulary(held_out: float, seed: int) -> tuple[dict[str, list], dict[str, list]]:
    """(training words, all words) per open class; ``held_out`` of each class (at
    least one word) is kept out of the training words."""
    rng = np.random.default_rng(seed)
    train, full = {}, vocabulary()
    for name, words in full.items():
        keep = rng.permutation(len(words))[: len(words) - max(1, round(held_out * len(words)))]
        train[name] = [words[i] for i in sorted(keep)]
    return train, full


class SentenceGenerator:
    """Random sentences over one vocabulary (``split_vocabulary``'s output).

    >>> train, _ = split_vocabulary(0.3, seed=0)
    >>> sentence = SentenceGenerator(train, seed=1)()
    >>> sentence == sentence.lower() and 4 <= len(sentence.split()) <= 12
    True
    """

    def __init__(self, words: dict[str, list], seed: int) -> None:
        self.words = words
        self.rng = np.random.default_rng(seed)

    def _pick(self, items: Sequence):
        return items[self.rng.integers(len(items))]

    def __call__(self) -> str:
        template = self._pick(TEMPLATES)
        out: list[str] = []
        for token in _SLOT.split(template):
            token = token.strip()
            if not token:
                continue
            if token in ("noun", "adj", "name", "adv"):
                out.append(self._pick(self.words[token]))
            elif token in ("base", "past"):
                out.append(self._pick(self.words["verb"])[0 if token == "base" else 1])
            elif token == "det":
                out.append(self._pick(DETERMINERS))
            elif token == "prep":
                out.append(self._pick(PREPOSITIONS))
            elif token == "pron":
                out.append(self._pick(PRONOUNS))
            else:
                out.extend(token.split())
        for i in range(len(out) - 1):  # a apple -> an apple
            if out[i] == "a" and out[i + 1][0] in "aeiou":
                out[i] = "an"
        return " ".join(out)
