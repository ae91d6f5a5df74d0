"""Open-vocabulary English sentences from a generative grammar.

The text of the synthetic speech-to-text corpus. Sentences come from 12 templates
(``TEMPLATES``) whose slots draw from word lists kept in this file (1 329 words), so
the text installs with seqrec and needs no download. The vocabulary is large so that
a character model learns spelling, not a short list of words: unseen test words are
only spelt right by a model that has met enough English to generalise. Two
properties make word error rate meaningful on it:

- **No homophones in the vocabulary.** Every word was chosen so that no other word
  of the vocabulary sounds the same (``to`` is in, ``two`` and ``too`` are not;
  ``our`` is in, ``hour`` is not). A listener who hears a sentence correctly can
  therefore write it correctly; what a model gets wrong, it misheard.
  ``tests/unit/synth/test_sentences.py`` checks this with eSpeak's own phonemes.
- **Held-out words.** :func:`split_vocabulary` sets aside a share of every open word
  class (nouns, adjectives, verbs, names, adverbs). Training sentences never use
  them; test sentences draw from the whole vocabulary, so a quarter or more of the
  word types of the test text are never seen in training.

Words are drawn uniformly within their class by default. :func:`zipf_weights` gives
the alternative of natural text: word frequencies that fall with rank as
``1 / rank**exponent`` within each class, with the held-out words at the bottom of
the ranking, so that the words a training text lacks are its rare ones, as in real
corpora. Unseen words are then a smaller share of the test tokens than of the test
word types (``text_stats.json`` records both).
"""

import hashlib
import re
from collections.abc import Sequence

import numpy as np


def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words("""apple basket bicycle blanket bottle bridge bucket butter button cabin camera candle
canyon carpet castle cat chair cheese cherry chicken church circle clock cloud coat
coffee collar copper corner cottage cousin cup curtain desk diamond dinner doctor dog
dolphin donkey door dragon drawer drum eagle engine farmer feather fence finger forest
fox garden glass glove goat guitar hammer harbor helmet hill island jacket jungle
kettle kitchen ladder lamp lemon letter library lion lizard map market meadow mirror
monkey mountain museum needle ocean owl painter palace pancake parrot pencil pepper
piano pillow pocket potato puppy rabbit radio river robot rocket saddle sailor
sandwich scarf school shadow sheep shelf shoe singer sister spider spoon squirrel
station stone student sugar table teacher tiger tomato tower train tree truck tunnel
turtle umbrella valley village violin wagon wallet window wizard wolf zebra barrel
beetle biscuit blossom cannon carrot crystal dentist factory falcon gadget lantern
magnet mitten napkin otter pebble pirate puzzle ribbon sparrow statue thimble trumpet
walrus whistle bakery balloon compass anchor ant apron arrow attic backpack badge
bagel banana bandage banjo barn basin bath beach bean bed bee bell belt bench berry
blade blender boat bone book boot bowl box bracelet branch brick broom brush bubble
buffalo bulb bull bus cactus cake calendar camel canal candy canoe cap captain car
card carton cave ceiling cello chain chalk cheetah chef chest chimney chin chocolate
cinema clam cliff clown coconut comb comet cookie corn cow crab crane crayon crow
crown cushion diary dice dish doll dome dove duck dune eel egg elbow elephant elevator
envelope eraser fairy fan farm faucet ferry fig film fish flag flame flask flute fog
folder fork fountain frog fruit funnel gate gem ghost giraffe globe goose gorilla
grape grass gravel gull hamster hat hawk hedge hen hippo hook horn horse hose hotel
house igloo ink insect iron jar jeep jelly jewel jug kangaroo kite kitten knife koala
lake lamb lane lawn leaf leopard lettuce lid lighthouse locket log lollipop magazine
mailbox mango marble mask mattress medal melon microphone milk mole moon moth motor
mouse mug mushroom nail necklace nest net newspaper notebook nut oak octopus olive
onion orchard oven paddle pan panda panther paper parcel park path peach peacock
peanut pelican pen penguin pie pig pigeon pin pine pipe plank plate plum pond pony
poster pot pudding pump pumpkin quilt raccoon raft rainbow rake robe roof rope rug
ruler salad salmon sand scissors shark shell ship shirt shovel sink skirt sled slipper
snail snake sock sofa soup sponge stamp star stool stove strawberry street submarine
suitcase swan sweater sword tent thread throne thumb ticket toad toast tongue tooth
towel toy tractor tray trophy tulip turkey vase vest vine volcano waffle walnut wand
wheel wheat wing worm yacht yard yarn yogurt acorn almond antler anvil avocado badger
bamboo bandit banner baron basement beaver blizzard bonnet bouquet buckle bunny burger
butterfly cabbage cable cafe caravan cardigan carriage cashew caterpillar cauliflower
cedar cellar chapel chariot chestnut chimpanzee cobweb cocoa cucumber cupboard custard
dagger dandelion dinosaur dormitory doughnut dragonfly dumpling emerald falafel fiddle
firefly flamingo freezer gallery garage garlic glacier goblin gondola grasshopper
greenhouse hammock hedgehog helicopter hurricane iceberg jaguar jigsaw kayak keyboard
ladybug lagoon laptop lemonade lobster lullaby mammoth marshmallow meteor minnow
moustache muffin narwhal noodle nutmeg oatmeal omelet ostrich paintbrush parsley
peppermint pickle pineapple porcupine postcard pretzel pyramid quarry radish reindeer
rhinoceros saucepan sausage scarecrow scooter seashell skeleton skyscraper snowman
spaghetti spinach stadium stapler sunflower tadpole tambourine teapot telescope
thermometer toadstool toothbrush tornado tortoise trampoline treasure tricycle trolley
turnip typewriter vulture wardrobe waterfall weasel windmill woodpecker""")
ADJECTIVES = _words("""angry bright brave broken busy calm careful cheerful clever cold crooked curious dark
dusty eager empty enormous famous fancy friendly frozen gentle golden green happy
heavy hollow hungry little lonely lucky muddy narrow noisy polite proud purple quiet
rapid rusty shiny silent silly sleepy small smooth soft strange strong sturdy tall
tiny warm wet wild wooden yellow young bitter clumsy fluffy gloomy humble jolly merry
nervous patient sneaky spotted striped tidy wicked awake bald bashful bold bouncy
brief bumpy chilly chubby cloudy cozy creamy crispy crunchy cuddly damp dizzy dreamy
dull elegant fierce filthy flat fresh fuzzy giant glossy grumpy hairy handsome hasty
healthy honest icy jealous juicy kind lazy lively loyal magic messy mighty modern
moody mysterious nasty neat nimble odd plump precious pretty prickly rainy rare ripe
round royal rude salty scary scruffy shaggy sharp short shy skinny slim slippery
sloppy smart smelly snowy soggy sour spicy splendid squeaky steep sticky stormy sunny
swift tender thick thin thirsty tough tricky ugly wise witty wobbly worried zany brown
black white pink crimson silver ancient anxious bulky chatty cranky delicate dirty
drowsy fragile frosty gigantic glittery gorgeous greedy grimy hefty itchy lumpy mellow
misty nervy peaceful perfect playful rotten sandy shabby sleek speedy spooky stubborn
tangled velvety wealthy weary windy wrinkled""")
VERBS = [
    tuple(pair.split("/"))
    for pair in _words("""carry/carried catch/caught chase/chased clean/cleaned climb/climbed collect/collected
cook/cooked draw/drew drop/dropped find/found fix/fixed follow/followed grab/grabbed
help/helped hide/hid hold/held kick/kicked lift/lifted like/liked lose/lost move/moved
open/opened paint/painted pick/picked pull/pulled push/pushed visit/visited
wash/washed watch/watched borrow/borrowed bring/brought build/built forget/forgot
give/gave keep/kept leave/left love/loved mend/mended notice/noticed order/ordered
polish/polished remember/remembered share/shared show/showed touch/touched want/wanted
admire/admired bake/baked call/called count/counted deliver/delivered
discover/discovered hug/hugged juggle/juggled measure/measured protect/protected
rescue/rescued sketch/sketched squeeze/squeezed tickle/tickled add/added
answer/answered arrange/arranged bend/bent bite/bit boil/boiled bounce/bounced
carve/carved check/checked chew/chewed choose/chose close/closed cover/covered
crush/crushed dig/dug drag/dragged eat/ate feed/fed fill/filled fold/folded
greet/greeted hang/hung hunt/hunted invite/invited jump/jumped kiss/kissed
knock/knocked lend/lent lick/licked load/loaded mark/marked mix/mixed pack/packed
pat/patted pay/paid peel/peeled plant/planted praise/praised prepare/prepared
press/pressed print/printed raise/raised reach/reached repair/repaired return/returned
rinse/rinsed roll/rolled rub/rubbed save/saved scrub/scrubbed search/searched
sell/sold send/sent shake/shook shout/shouted smell/smelled spill/spilled
splash/splashed stack/stacked steal/stole stir/stirred stop/stopped sweep/swept
take/took teach/taught test/tested throw/threw tie/tied toss/tossed trade/traded
trap/trapped tug/tugged turn/turned wake/woke warn/warned wave/waved wipe/wiped
wrap/wrapped write/wrote zip/zipped cradle/cradled decorate/decorated examine/examined
frighten/frightened gather/gathered guide/guided inspect/inspected lock/locked
nudge/nudged pinch/pinched poke/poked rattle/rattled scatter/scattered
shelter/sheltered sniff/sniffed spin/spun swap/swapped tease/teased unwrap/unwrapped
weave/wove fetch/fetched flip/flipped""")
]  # (base, past)
NAMES = _words("""alice oliver emma lucas sophia henry mia jack isabel leo nora oscar ruby felix clara
hugo stella victor greta simon fiona martin paula dennis helen kevin laura peter sarah
thomas ada boris celia edgar gloria ivan julia milo nina rosa walter adam alan amber
anna arthur bella ben carl chloe daniel david diana edward elena eric ethan eva frank
george grace harry iris jacob james jasmine kate leon linda lisa lucy luke max maya
mike molly nathan noah olivia owen patrick rachel robert ryan sam susan ted tina tom
vera william zoe agnes bruno cecil dorothy esther gordon harold irene judith lionel
marcus norman otto philip rupert stanley ursula violet wendy""")
ADVERBS = _words("""yesterday today tomorrow quickly slowly carefully quietly happily again early later
twice tonight suddenly gently loudly proudly eagerly angrily boldly brightly briskly
calmly cheerfully firmly fondly gladly greedily honestly lazily neatly nervously
politely rarely roughly rudely safely secretly sharply shyly silently sleepily
smoothly softly soon sternly swiftly tenderly tightly warmly wildly wisely""")
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


def zipf_weights(
    train: dict[str, list], full: dict[str, list], exponent: float, seed: int
) -> dict[str, dict]:
    """Relative frequency of every word of ``full``, per class: ``1 / rank**exponent``
    with the ranks shuffled by ``seed``, the training words ranked above the held-out
    ones.

    >>> train, full = split_vocabulary(0.3, seed=0)
    >>> weights = zipf_weights(train, full, exponent=1.0, seed=0)
    >>> held_out = set(full["noun"]) - set(train["noun"])
    >>> min(weights["noun"][w] for w in train["noun"]) > max(weights["noun"][w] for w in held_out)
    True
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for name, words in full.items():
        known = set(train[name])
        shuffled = [words[i] for i in rng.permutation(len(words))]
        ranked = [w for w in shuffled if w in known] + [w for w in shuffled if w not in known]
        weights[name] = {w: 1.0 / (rank + 1) ** exponent for rank, w in enumerate(ranked)}
    return weights


class SentenceGenerator:
    """Random sentences over one vocabulary (``split_vocabulary``'s output), its words
    drawn uniformly within each class or, with ``weights`` (``zipf_weights``' output),
    in proportion to their weight.

    >>> train, _ = split_vocabulary(0.3, seed=0)
    >>> sentence = SentenceGenerator(train, seed=1)()
    >>> sentence == sentence.lower() and 4 <= len(sentence.split()) <= 12
    True
    """

    def __init__(
        self, words: dict[str, list], seed: int, weights: dict[str, dict] | None = None
    ) -> None:
        self.words = words
        self.rng = np.random.default_rng(seed)
        self.cdf: dict[str, np.ndarray] = {}
        for name, items in words.items() if weights else ():
            w = np.array([weights[name][item] for item in items], dtype=np.float64)
            self.cdf[name] = np.cumsum(w / w.sum())

    def _pick(self, items: Sequence):
        return items[self.rng.integers(len(items))]

    def _word(self, name: str):
        items = self.words[name]
        if name not in self.cdf:
            return self._pick(items)
        index = int(np.searchsorted(self.cdf[name], self.rng.random(), side="right"))
        return items[min(index, len(items) - 1)]

    def __call__(self) -> str:
        template = self._pick(TEMPLATES)
        out: list[str] = []
        for token in _SLOT.split(template):
            token = token.strip()
            if not token:
                continue
            if token in ("noun", "adj", "name", "adv"):
                out.append(self._word(token))
            elif token in ("base", "past"):
                out.append(self._word("verb")[0 if token == "base" else 1])
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
