"""Generate Inflow's sample data (seeded, deterministic): run ``python sample_data/generate.py``.

Writes, next to this script:

* ``reviews.csv`` and ``lamp3_reviews_{questions,outputs}.json``: four reviewers rating products
  1-5. Every review mentions a few aspects (durability, price/value, customer service, ease of
  use, performance, shipping, design), each positive, negative or neutral. A reviewer's rating is
  ``base + sum(weight[aspect] * sentiment) + noise``, with one heavily weighted aspect per reviewer
  (see ``REVIEWERS``), so the factors a model should find are known.
* ``movie_tags.csv`` and ``lamp2_tags_{questions,outputs}.json``: two users tagging movie
  descriptions with one LaMP-2 tag. A movie shows several tag-worthy traits; each user picks the
  trait highest in their own priority list (see ``TAGGERS``), with a little noise.

In the LaMP files each user's last item is the question and the earlier items its profile;
questions carry a ``user_id`` key so they load back to the same users as the CSV files.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).resolve().parent

LAMP3_PROMPT = ("What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
                "without further explanation. review: ")
LAMP2_TAGS = ("sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
              "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story")
LAMP2_PROMPT = ("Which tag does this movie relate to among the following tags? Just answer with the tag name without "
                "further explanation. tags: [" + ", ".join(LAMP2_TAGS) + "] description: ")


def pick(rng: random.Random, options: list[str] | tuple[str, ...]) -> str:
    return options[rng.randrange(len(options))]


def fill(rng: random.Random, template: str, slots: dict[str, list[str] | tuple[str, ...] | str]) -> str:
    """Fill ``{slot}`` markers; list-valued slots get a random choice each time."""
    values = {k: (v if isinstance(v, str) else pick(rng, v)) for k, v in slots.items()}
    text = template.format(**values)
    return text[0].upper() + text[1:]


# =================================================================================================
# Product reviews
# =================================================================================================

@dataclass(frozen=True)
class Product:
    name: str
    category: str
    price: float
    parts: tuple[str, ...]
    good: tuple[str, ...]
    bad: tuple[str, ...]


PRODUCTS: tuple[Product, ...] = (
    # Kitchen
    Product("electric kettle", "Kitchen", 39, ("lid hinge", "handle", "power base", "on/off switch"),
            ("boils a full pot in about four minutes", "keeps the water hot for a good while",
             "has no plastic taste at all"),
            ("takes forever to boil", "leaks a little from the spout when pouring", "gives the water a plastic taste")),
    Product("countertop blender", "Kitchen", 89, ("jar", "blade assembly", "lid", "motor coupling"),
            ("crushes ice in seconds", "makes perfectly smooth smoothies", "handles frozen fruit without stalling"),
            ("leaves chunks of ice no matter how long it runs", "smells like burning rubber under load",
             "stalls on anything thicker than juice")),
    Product("non-stick frying pan", "Kitchen", 34, ("non-stick coating", "handle", "rivets"),
            ("heats evenly across the whole surface", "releases eggs without any oil", "sears steak nicely"),
            ("has a hot spot right in the middle", "food sticks to it after a few uses", "warps on high heat")),
    Product("burr coffee grinder", "Kitchen", 65, ("hopper", "burr", "grind dial", "lid"),
            ("gives a very consistent grind", "goes from espresso-fine to French-press coarse easily",
             "is quieter than I expected"),
            ("produces an uneven grind with lots of dust", "sprays grounds all over the counter",
             "is painfully loud first thing in the morning")),
    Product("toaster", "Kitchen", 45, ("lever", "crumb tray", "browning dial"),
            ("toasts both sides evenly", "handles thick bagels without trouble"),
            ("burns one side and leaves the other pale", "is too narrow for a normal slice of sourdough")),
    # Electronics
    Product("pair of wireless earbuds", "Electronics", 79, ("charging case hinge", "left earbud", "charging port"),
            ("sounds clear with surprisingly deep bass", "stays connected across the whole apartment",
             "lasts a full workday on one charge"),
            ("keeps dropping the connection", "sounds tinny at any volume", "loses charge after barely two hours")),
    Product("bluetooth speaker", "Electronics", 59, ("charging port", "volume button", "strap"),
            ("fills a room with clear sound", "pairs instantly every time", "runs all weekend on a charge"),
            ("distorts as soon as you turn it past half", "cuts out whenever my phone is in the next room",
             "has a battery that barely lasts an afternoon")),
    Product("USB-C hub", "Electronics", 49, ("cable", "HDMI port", "casing"),
            ("drives my 4K monitor without flicker", "transfers files at full speed"),
            ("gets alarmingly hot", "randomly disconnects my external drive")),
    Product("portable power bank", "Electronics", 42, ("USB port", "casing", "power button"),
            ("charges my phone almost three times", "tops up a laptop in a pinch"),
            ("takes all night to recharge itself", "barely gets my phone to full once")),
    Product("smart LED bulb set", "Electronics", 36, ("bulb base", "bulb housing"),
            ("gives a warm, even light", "responds instantly to the app"),
            ("flickers when dimmed", "loses its Wi-Fi connection every few days")),
    # Outdoor
    Product("camping lantern", "Outdoor", 32, ("handle", "switch", "battery door"),
            ("lights up the whole campsite", "runs for days on one set of batteries"),
            ("is much dimmer than advertised", "drains batteries in one evening")),
    Product("hiking daypack", "Outdoor", 68, ("zipper", "shoulder strap", "hip belt buckle", "seams"),
            ("carries comfortably even on long climbs", "has pockets exactly where you need them",
             "keeps everything dry in light rain"),
            ("digs into my shoulders after an hour", "lets rain soak straight through",
             "has pockets that are too small to be useful")),
    Product("insulated water bottle", "Outdoor", 28, ("lid", "straw", "powder coating"),
            ("keeps water ice cold all day", "keeps coffee hot well into the afternoon"),
            ("sweats like an ordinary glass", "lets drinks go lukewarm in a couple of hours")),
    Product("two-person tent", "Outdoor", 149, ("poles", "zipper", "rain fly", "stakes"),
            ("pitches in under ten minutes", "stayed bone dry through a night of heavy rain"),
            ("let water pool on the floor overnight", "flaps loudly in the slightest wind")),
    Product("LED headlamp", "Outdoor", 24, ("strap", "battery cover", "tilt hinge"),
            ("throws a bright, wide beam", "has a handy red-light mode"),
            ("has a beam that is all hot spot and no spread", "switches modes by accident in my pocket")),
    # Home
    Product("cordless stick vacuum", "Home", 199, ("battery latch", "dust bin", "brush roll", "wall mount"),
            ("picks up pet hair from carpet in one pass", "is light enough to carry up the stairs"),
            ("loses suction after ten minutes", "just pushes crumbs around on hard floors")),
    Product("memory foam pillow", "Home", 45, ("cover", "zipper", "foam"),
            ("supports my neck without feeling hard", "stays cool through the night"),
            ("is far too firm for side sleeping", "still smells of chemicals after a week")),
    Product("desk lamp", "Home", 38, ("arm joint", "base", "touch switch"),
            ("gives glare-free light across the desk", "has a nice range of color temperatures"),
            ("flickers at low brightness", "can't be angled where I need it")),
    Product("air purifier", "Home", 129, ("filter door", "fan", "control panel"),
            ("clears cooking smells in minutes", "runs whisper-quiet on the night setting"),
            ("sounds like a jet engine on anything above low", "made no noticeable difference to the dust")),
    Product("bath towel set", "Home", 55, ("stitching", "hem", "hanging loop"),
            ("is thick and very absorbent", "gets softer with every wash"),
            ("sheds lint all over everything", "barely absorbs anything")),
    # Office
    Product("ergonomic office chair", "Office", 249, ("armrest", "gas cylinder", "caster wheels", "backrest bracket"),
            ("keeps my back happy through long workdays", "adjusts in every direction I need"),
            ("leaves me with a sore lower back", "has a seat that is hard as a board")),
    Product("mechanical keyboard", "Office", 95, ("spacebar stabilizer", "keycaps", "USB cable", "feet"),
            ("has crisp, satisfying switches", "never misses a keystroke"),
            ("double-types letters constantly", "has a rattly spacebar")),
    Product("wireless mouse", "Office", 29, ("scroll wheel", "left button", "battery cover"),
            ("tracks smoothly on any surface", "fits my hand perfectly"),
            ("stutters across the screen", "has a cramped shape that hurts after an hour")),
    Product("monitor arm", "Office", 79, ("clamp", "tension spring", "joint"),
            ("holds my monitor rock steady", "frees up a ton of desk space"),
            ("sags slowly until the screen points at the desk", "wobbles every time I type")),
    # Fitness
    Product("yoga mat", "Fitness", 35, ("surface", "edges"),
            ("grips well even during hot yoga", "cushions my knees nicely"),
            ("is slippery as soon as I sweat", "is too thin to kneel on")),
    Product("adjustable dumbbell set", "Fitness", 219, ("weight selector", "handle", "locking plate"),
            ("switches weights in two seconds", "feels balanced in the hand"),
            ("jams between weight settings", "rattles with every rep")),
    Product("resistance band set", "Fitness", 22, ("handle", "longest band", "door anchor"),
            ("covers everything from light rehab to heavy rows", "comes in a good spread of tensions"),
            ("rolls up and pinches the skin", "is much weaker than the label claims")),
    Product("foam roller", "Fitness", 26, ("foam", "core"),
            ("works out knots in my calves", "has just the right firmness"),
            ("is too soft to do anything", "has ridges that hurt more than they help")),
)

BRANDS: dict[str, dict[str, float]] = {
    # durability: chance an aspect mention is positive; service: same for customer service; price: multiplier
    "Kestrel": {"durability": 0.85, "service": 0.45, "price": 1.35},
    "Brightline": {"durability": 0.35, "service": 0.80, "price": 0.90},
    "Northwind": {"durability": 0.70, "service": 0.70, "price": 1.15},
    "Voltaro": {"durability": 0.30, "service": 0.30, "price": 0.65},
    "Hearthly": {"durability": 0.60, "service": 0.85, "price": 1.05},
    "Pinecrest": {"durability": 0.80, "service": 0.25, "price": 1.00},
    "Lumora": {"durability": 0.45, "service": 0.55, "price": 0.75},
    "Ardent": {"durability": 0.75, "service": 0.60, "price": 1.55},
}

ASPECTS = ("durability", "price", "service", "ease", "performance", "shipping", "design")


@dataclass(frozen=True)
class Reviewer:
    id: str
    base: float
    weights: dict[str, float]
    categories: dict[str, float]
    n_reviews: int
    style: str
    start: date


REVIEWERS: tuple[Reviewer, ...] = (
    # Cares about durability: breakage sinks a rating whatever else is good.
    Reviewer("ava", 3.5, {"durability": 1.8, "price": 0.3, "service": 0.35, "ease": 0.3, "performance": 0.7,
                          "shipping": 0.15, "design": 0.2},
             {"Outdoor": 3, "Kitchen": 2, "Fitness": 2, "Home": 1, "Office": 1, "Electronics": 1}, 96, "measured",
             date(2019, 3, 4)),
    # Price-sensitive: judges everything by value for money. The weight is 2.3 (not 1.8 like the others' key
    # aspects) because value cues are spread over many phrasings: at 1.8 the value factor's influence
    # ranged -0.88..-1.39 across CPUs, too near the noise; at 2.3 it is -1.79 on every CPU tried.
    Reviewer("ben", 3.4, {"durability": 0.35, "price": 2.3, "service": 0.25, "ease": 0.3, "performance": 0.7,
                          "shipping": 0.2, "design": 0.15},
             {"Electronics": 3, "Kitchen": 2, "Office": 2, "Home": 1, "Fitness": 1, "Outdoor": 1}, 84, "blunt",
             date(2020, 1, 12)),
    # Customer-service focused: how the company treats her matters most.
    Reviewer("chloe", 3.6, {"durability": 0.3, "price": 0.25, "service": 1.8, "ease": 0.3, "performance": 0.6,
                            "shipping": 0.6, "design": 0.2},
             {"Home": 3, "Kitchen": 3, "Electronics": 1, "Office": 1, "Fitness": 1, "Outdoor": 1}, 72, "story",
             date(2019, 9, 20)),
    # Wants things easy to set up and use. 90 reviews (not 58): with fewer, the ease factor's 95% interval
    # touched zero on some CPUs, because the ease cues are split over several small clusters.
    Reviewer("dev", 3.5, {"durability": 0.3, "price": 0.3, "service": 0.3, "ease": 1.7, "performance": 0.8,
                          "shipping": 0.15, "design": 0.35},
             {"Electronics": 3, "Office": 2, "Fitness": 2, "Home": 2, "Kitchen": 1, "Outdoor": 1}, 90, "casual",
             date(2021, 2, 2)),
)

PERIODS = ("two weeks", "three weeks", "a month", "six weeks", "two months", "three months", "four months",
           "half a year", "a couple of months", "about ten days")
LONG_PERIODS = ("six months", "eight months", "a year", "over a year", "nearly two years", "ten months")
ABUSE = ("a couple of drops onto tile", "daily use by two teenagers", "being tossed in the car every day",
         "two house moves", "a rainy week of camping", "being knocked off the counter more than once")
BROKE = ("cracked", "snapped", "broke", "split", "came loose", "gave out")
BROKEN = ("cracked", "snapped", "broken", "split", "come loose", "given out")
DAYS = ("three", "four", "five", "six", "eight", "ten")
MINUTES = ("twenty", "thirty", "forty", "forty-five")
RELATIVES = ("my dad", "my mother-in-law", "my nine-year-old", "my grandmother", "my roommate")
ROOMS = ("the kitchen", "my living room", "the office", "our bedroom", "the hallway")
COLORS = ("sage green", "matte black", "navy", "cream", "graphite", "terracotta")
SETUP_MIN = ("five", "ten", "fifteen", "two")
ACCESSORIES = ("power cable", "manual", "spare filter", "mounting screw", "carrying pouch", "charging cable")

DURABILITY = {
    1: ("after {long} of daily use it still looks and works like new.",
        "solidly built; the {part} feels like it will outlast me.",
        "it has survived {abuse} without a scratch.",
        "I've had it for {long} now and nothing has loosened or worn out.",
        "the {part} is noticeably sturdier than on my last one, which broke within a year.",
        "still going strong after {long}, and I don't baby it.",
        "heavy-duty construction throughout, especially the {part}.",
        "everything about the build says it was made to last."),
    -1: ("the {part} {broke} after {period}.",
         "within {period} the {part} had {broken}, and I was not rough with it.",
         "{period} in, the {part} {broke}. That should not happen with normal use.",
         "it stopped working altogether after {period}.",
         "build quality is flimsy; the {part} already feels like it's about to give out.",
         "mine {broke} at the {part} after {period} of light use.",
         "I'm on my second one because the {part} on the first {broke} after {period}.",
         "something inside started rattling after {period} and now it barely works.",
         "the {part} {broke} the first time it was dropped from counter height."),
    0: ("too early to say how it holds up long term.",
        "seems reasonably sturdy so far, time will tell.",
        "build quality is about average, nothing feels premium but nothing feels fragile either.",
        "the {part} feels a bit light, but it has held up so far."),
}

PRICE = {
    1: ("at ${price} it's a genuine bargain.",
        "for ${price} this is a steal.",
        "I got it on sale for ${price} and it was worth every cent.",
        "it costs a fraction of the big-name versions and does the same job.",
        "hard to beat at this price.",
        "great value for money, I'd happily have paid more.",
        "I compared a dozen listings and this was the best deal by far at ${price}."),
    -1: ("at ${price} it's overpriced for what you get.",
         "for ${price} I expected a lot more.",
         "you can find ones for half the price that do exactly the same thing.",
         "not worth ${price}, honestly.",
         "it's hard to justify ${price} for something this basic.",
         "I paid ${price} and I feel like I overpaid.",
         "the price jumped to ${price} the week I bought it, and it isn't worth that.",
         "way too expensive for the quality."),
    0: ("the price, ${price}, is about what you'd expect.",
        "not cheap, not expensive; about average for this kind of thing.",
        "price was fine."),
}

SERVICE = {
    1: ("customer service was excellent: I emailed about a missing {accessory} and they shipped one the next day.",
        "support answered within an hour and were genuinely helpful.",
        "when I had a question about the settings, someone from the company called me back the same day.",
        "the return process was painless, no questions asked.",
        "they even followed up a week later to make sure everything was fine.",
        "a replacement {part} arrived in {days} days with a prepaid return label, no hassle at all.",
        "the support team walked me through a fix over chat in five minutes."),
    -1: ("I contacted customer service about a missing {accessory} and never heard back.",
         "customer support took {days} days to reply and then sent a copy-paste answer.",
         "the seller refused a return because the box had been opened.",
         "I called support twice and sat on hold for over {minutes} minutes each time.",
         "the warranty claim was a nightmare; they wanted photos, receipts and a video before doing anything.",
         "their support chat closed my ticket without solving anything.",
         "the replacement they promised never arrived, and nobody answers emails."),
    0: ("I haven't needed to contact the company so far.",
        "no dealings with customer service yet, which is probably a good sign."),
}

EASE = {
    1: ("setup took {setup} minutes, no tools needed.",
        "very easy to use; even {relative} figured it out without the manual.",
        "the controls are intuitive and everything is where you'd expect.",
        "it's easy to clean, which matters a lot to me.",
        "assembly was straightforward and the instructions were clear.",
        "it just works out of the box."),
    -1: ("the instructions are useless; it took me most of an afternoon to set up.",
         "the buttons are confusing and I still need the manual for basic things.",
         "setting it up was a frustrating process with missing steps in the manual.",
         "it's fiddly to use, too many steps for something so simple.",
         "cleaning it is a pain because of all the small parts.",
         "the app you need for setup crashed three times before it worked."),
    0: ("setup was okay once I found the right page of the manual.", "there's a small learning curve.",
        "it took a couple of tries to get the hang of it."),
}

PERFORMANCE = {
    1: ("it {good}.", "works exactly as described: it {good}.", "performance is great; it {good}.",
        "what impressed me most is that it {good}.", "day to day it {good}, which is all I wanted."),
    -1: ("it {bad}.", "the main problem is that it {bad}.", "performance is disappointing, it {bad}.",
         "I wanted to like it, but it {bad}.", "honestly it {bad}."),
    0: ("it {good}, though it also {bad}.", "on good days it {good}; on bad days it {bad}."),
}

SHIPPING = {
    1: ("arrived two days early and well packed.", "packaging was minimal and recyclable, which I appreciated.",
        "delivery was quick and the box was in perfect shape.", "it showed up the day after I ordered it.",
        "well packed, with everything in its own little bag.", "tracking was accurate down to the hour."),
    -1: ("the box arrived crushed and the {part} was scuffed.", "shipping took almost three weeks.",
         "it came with no protective packaging at all, just a thin bag.",
         "the courier left it in the rain and the box was soaked.", "delivery was pushed back three times.",
         "it arrived with the {part} rattling loose in the box."),
    0: ("delivery was on time.", "shipping was nothing to write home about.", "arrived when they said it would."),
}

DESIGN = {
    1: ("it looks great in {room}.", "nice, clean design, and the {color} finish goes with everything.",
        "compact and good-looking.", "the {color} version is even nicer in person.",
        "it's slim enough to leave out on display.", "thoughtful little design touches everywhere."),
    -1: ("the {color} finish looks nothing like the photos.",
         "it's bulkier than I expected and takes up a lot of space.", "it looks cheap up close.",
         "the logo is huge and ugly.", "the {color} color clashes with everything in {room}."),
    0: ("looks fine, nothing special.", "the {color} finish is okay.", "design is plain but inoffensive."),
}

ASPECT_TEMPLATES = {"durability": DURABILITY, "price": PRICE, "service": SERVICE, "ease": EASE,
                    "performance": PERFORMANCE, "shipping": SHIPPING, "design": DESIGN}

OPENERS = ("I bought this {product} {when}.", "picked up the {brand} {product} {when}.",
           "ordered this {product} to replace my old one.", "this is my second {product} from {brand}.",
           "after reading a lot of reviews I went with the {brand} {product}.",
           "got this {product} as a gift for {relative}, then ended up using it myself.",
           "I needed a {product} for {need} and this one had good reviews.",
           "my partner talked me into the {brand} {product}.")
WHEN = ("last month", "a few weeks ago", "during a holiday sale", "on a whim", "earlier this year",
        "after my old one died")
NEEDS = {"Kitchen": ("our small apartment kitchen", "weekend cooking", "meal prep"),
         "Electronics": ("my commute", "working from home", "travel"),
         "Outdoor": ("a week in the mountains", "weekend camping trips", "day hikes"),
         "Home": ("the guest room", "our new place", "everyday use"),
         "Office": ("my home office", "long workdays at the desk", "a new desk setup"),
         "Fitness": ("workouts at home", "my physio exercises", "morning training")}

CLOSERS = {
    5: ("would buy again.", "highly recommend.", "no regrets at all.", "really happy with it.",
        "this one's a keeper.", "glad I bought it."),
    4: ("happy with it overall.", "recommended, with small reservations.", "a solid choice.",
        "I'd buy it again."),
    3: ("it does the job, nothing more.", "mixed feelings.", "okay, but I'd look around first.",
        "not bad, not great."),
    2: ("I'm disappointed.", "I wouldn't buy it again.", "can't really recommend it.",
        "expected better."),
    1: ("avoid.", "returning it.", "stay away.", "a complete letdown."),
}

STYLE_LEADS = {
    "measured": ("For what it's worth, ", "To be fair, ", "Overall, ", ""),
    "blunt": ("", "", "Bottom line: ", "Look, "),
    "story": ("So, ", "Long story short, ", "Funny thing is, ", ""),
    "casual": ("Honestly, ", "Ok so ", "", "Tbh "),
}


def sentiment(rng: random.Random, p_positive: float, p_neutral: float = 0.12) -> int:
    r = rng.random()
    if r < p_neutral:
        return 0
    return 1 if r < p_neutral + (1 - p_neutral) * p_positive else -1


def aspect_sentiments(rng: random.Random, reviewer: Reviewer, brand: dict[str, float], price_ratio: float,
                      quality: float) -> dict[str, int]:
    """Pick the aspects a review mentions and how each came out for this product."""
    key = max(reviewer.weights, key=reviewer.weights.__getitem__)
    mentioned = {key} if rng.random() < 0.8 else set()
    others = [a for a in ASPECTS if a != key]
    weights = [3.0 if a == "performance" else 1.0 for a in others]
    while len(mentioned) < rng.choice((2, 3, 3, 4)):
        mentioned.add(rng.choices(others, weights)[0])
    out: dict[str, int] = {}
    for aspect in ASPECTS:
        if aspect not in mentioned:
            continue
        if aspect == "durability":
            out[aspect] = sentiment(rng, brand["durability"])
        elif aspect == "service":
            out[aspect] = sentiment(rng, brand["service"], 0.08)
        elif aspect == "price":
            out[aspect] = sentiment(rng, min(0.9, max(0.1, 1.25 - 0.8 * price_ratio)))
        elif aspect == "performance":
            out[aspect] = sentiment(rng, quality, 0.15)
        else:
            out[aspect] = sentiment(rng, 0.6, 0.15)
    return out


def review_text(rng: random.Random, reviewer: Reviewer, product: Product, brand: str, price: float,
                aspects: dict[str, int], rating: int) -> str:
    slots: dict[str, list[str] | tuple[str, ...] | str] = {
        "product": product.name, "brand": brand, "price": f"{price:.2f}", "part": product.parts,
        "period": PERIODS, "long": LONG_PERIODS, "abuse": ABUSE, "broke": BROKE, "broken": BROKEN, "days": DAYS,
        "minutes": MINUTES, "relative": RELATIVES, "room": ROOMS, "color": COLORS, "setup": SETUP_MIN,
        "accessory": ACCESSORIES, "good": product.good, "bad": product.bad, "when": WHEN,
        "need": NEEDS[product.category],
    }
    sentences: list[str] = []
    if rng.random() < 0.7:
        sentences.append(fill(rng, pick(rng, OPENERS), slots))
    body = list(aspects.items())
    rng.shuffle(body)
    for aspect, s in body:
        sentences.append(fill(rng, pick(rng, ASPECT_TEMPLATES[aspect][s]), slots))
    if rng.random() < 0.6:
        sentences.append(fill(rng, pick(rng, CLOSERS[rating]), slots))
    lead = pick(rng, STYLE_LEADS[reviewer.style])
    if lead and len(sentences) > 1:
        i = len(sentences) - 1 if rng.random() < 0.5 else 1
        first = sentences[i]
        keep_capital = first.startswith(("I ", "I'"))
        sentences[i] = lead + (first if keep_capital else first[0].lower() + first[1:])
    text = " ".join(sentences)
    if reviewer.style == "casual" and rng.random() < 0.4:
        text = text.replace(".", "!", 1)
    return text


def make_reviews(rng: random.Random) -> list[tuple[dict[str, str], dict[str, int]]]:
    """Return (CSV row, aspect sentiments behind its rating) pairs, user by user in date order."""
    rows: list[tuple[dict[str, str], dict[str, int]]] = []
    for reviewer in REVIEWERS:
        day = reviewer.start
        cats = list(reviewer.categories)
        cat_weights = [reviewer.categories[c] for c in cats]
        for k in range(reviewer.n_reviews):
            category = rng.choices(cats, cat_weights)[0]
            product = pick(rng, [p for p in PRODUCTS if p.category == category])
            brand = pick(rng, list(BRANDS))
            stats = BRANDS[brand]
            price = round(product.price * stats["price"] * rng.uniform(0.85, 1.15)) - 0.01
            price_ratio = price / product.price
            quality = min(0.9, max(0.2, 0.25 + 0.45 * stats["durability"] + 0.2 * (price_ratio - 0.7)))
            aspects = aspect_sentiments(rng, reviewer, stats, price_ratio, quality)
            score = reviewer.base + sum(reviewer.weights[a] * s for a, s in aspects.items()) + rng.gauss(0, 0.5)
            rating = int(min(5, max(1, round(score))))
            rows.append(({
                "user_id": reviewer.id,
                "review_id": f"{reviewer.id}-r{k + 1:03d}",
                "date": day.isoformat(),
                "product": f"{brand} {product.name}",
                "category": product.category,
                "price": f"{price:.2f}",
                "review_text": review_text(rng, reviewer, product, brand, price, aspects, rating),
                "rating": str(rating),
            }, aspects))
            day += timedelta(days=rng.randint(3, 24))
    return rows


# =================================================================================================
# Movie tagging (LaMP-2 style)
# =================================================================================================

TRAIT_SENTENCES: dict[str, tuple[str, ...]] = {
    "sci-fi": ("Aboard a {ship} drifting past {planet}, the crew picks up a signal that should not exist.",
               "In {future}, a breakthrough in {tech} lets people {scifi_power}.",
               "A rogue AI running {facility} starts making decisions of its own.",
               "An experiment with {tech} tears a hole between parallel timelines."),
    "based on a book": ("Adapted from {author}'s {book_adj} novel, the story follows its characters closely.",
                        "Based on the best-selling book by {author}.",
                        "This faithful adaptation of {author}'s {book_adj} novel keeps the book's structure.",
                        "Taken from the pages of {author}'s much-loved novel."),
    "comedy": ("What follows is a string of hilarious misunderstandings.",
               "Cue slapstick, mistaken identities and one very confused {animal}.",
               "The mismatched pair bicker their way through one ridiculous situation after another.",
               "Their plan goes wrong in the most absurd ways imaginable."),
    "action": ("Car chases, rooftop fights and a daring heist push them to the limit.",
               "{protagonist_short} has to fight through an army of mercenaries to get out alive.",
               "Explosive set pieces carry the race against the clock.",
               "A hijacked train becomes the stage for a brutal, breathless showdown."),
    "twist ending": ("But nothing is what it seems, and the final reveal changes everything.",
                     "A last-minute revelation forces you to rethink every scene before it.",
                     "The ending turns the whole story on its head.",
                     "Only in the final minutes does the truth about {protagonist_short} come out."),
    "dystopia": ("In a totalitarian future where {dystopia_rule}, one citizen begins to resist.",
                 "The state watches every move, and dissent is punished with erasure.",
                 "Society has collapsed into walled districts ruled by a single corporation.",
                 "Rationed memories and mandatory happiness keep the population in line."),
    "dark comedy": ("A botched funeral spirals into a morbidly funny chain of disasters.",
                    "The body in the freezer is only the first of their problems, and the laughs get darker.",
                    "A gallows-humor farce about a family that cannot stop accidentally killing people.",
                    "Grim, deadpan and very funny, it laughs at things it probably shouldn't."),
    "classic": ("Shot in glorious black and white, this {old_year} film set the template for its genre.",
                "A studio-era classic from {old_year}, with performances that still hold up.",
                "Released in {old_year}, it remains one of the most quoted films ever made.",
                "This {old_year} landmark is still taught in film schools."),
    "psychology": ("Haunted by fragmented memories, {protagonist_short} can no longer trust their own mind.",
                   "Sessions with a psychiatrist slowly uncover what really happened.",
                   "The film burrows into obsession, guilt and the stories we tell ourselves.",
                   "As paranoia sets in, the line between what is real and imagined blurs."),
    "fantasy": ("A cursed amulet pulls {protagonist_short} into a kingdom ruled by dragons.",
                "With the help of an exiled wizard, the heroes set out to break an ancient spell.",
                "Talking animals, enchanted forests and a prophecy guide the quest.",
                "Magic returns to the world, and with it creatures long thought extinct."),
    "romance": ("Along the way, two strangers fall slowly and hopelessly in love.",
                "A summer romance blossoms despite everything keeping them apart.",
                "Old flames meet again and must decide whether to rekindle what they lost.",
                "Love letters, missed chances and one unforgettable kiss drive the story."),
    "thought-provoking": ("It raises quiet, difficult questions about memory, identity and what makes us human.",
                          "A meditation on free will that lingers long after the credits.",
                          "The film refuses easy answers and leaves you arguing about it for days.",
                          "It asks what we owe to strangers, and answers with uncomfortable honesty."),
    "social commentary": ("The story exposes the deep inequality between {class_a} and {class_b}.",
                          "It is a sharp critique of consumer culture and the people it leaves behind.",
                          "Beneath the plot lies a pointed look at racism in a small town.",
                          "A satire of media, celebrity and the price of being seen."),
    "violence": ("The revenge that follows is blood-soaked and unflinching.",
                 "Brutal and graphic, it does not look away from the carnage.",
                 "Gang warfare erupts, and nobody comes out clean.",
                 "Each act of retribution is more savage than the last."),
    "true story": ("Based on the true story of {real_person}, who {real_deed} in {real_year}.",
                   "Inspired by real events from {real_year}, when {real_deed_plain}.",
                   "The incredible true account of {real_person}.",
                   "Drawn from court records and interviews with the people who were there."),
}

PROTAGONISTS = ("a retired detective", "a young single mother", "a disgraced surgeon", "two estranged brothers",
                "a shy librarian", "a small-town mechanic", "an ambitious reporter", "a teenage runaway",
                "a grieving widower", "a washed-up rock star", "a rookie police officer", "an elderly farmer",
                "a failed chef", "a nervous accountant", "an exiled prince")
SETUPS = ("returns to the town they swore never to see again", "inherits a house with a locked room",
          "takes a job that is not what it seems", "witnesses something they were never meant to see",
          "sets out across the country to keep a promise", "wakes up with no memory of the last week",
          "is given one last chance to make things right", "finds a stranger's diary on a night train")
SLOTS_MOVIE = {
    "ship": ("a mining freighter", "a generation ship", "an orbital station"),
    "planet": ("Jupiter", "a dead star", "the rings of Saturn"),
    "future": ("the year 2187", "a not-so-distant future", "the twenty-third century"),
    "tech": ("memory transfer", "teleportation", "cloning", "neural implants"),
    "scifi_power": ("relive any moment of their past", "swap bodies for a day", "live forever in the cloud"),
    "facility": ("a lunar colony", "a research vessel", "the city's power grid"),
    "author": ("Margaret Ellison", "J. T. Harrow", "Ines Castellano", "Walter Brandt", "Okonkwo Adeyemi"),
    "book_adj": ("Pulitzer-winning", "cult", "sprawling", "slim but celebrated", "best-selling"),
    "animal": ("goat", "parrot", "police dog", "llama"),
    "dystopia_rule": ("books are outlawed", "every citizen is ranked by a score",
                      "children are assigned careers at birth", "water is controlled by the state"),
    "old_year": ("1946", "1952", "1958", "1961", "1939", "1967"),
    "class_a": ("the rich hill families", "factory owners", "the city's elite"),
    "class_b": ("the workers who serve them", "the migrants in the valley", "the tenants downstairs"),
    "real_person": ("a Welsh coal miner", "the first woman to swim the Channel both ways",
                    "a wrongly convicted teenager", "a whistle-blowing nurse"),
    "real_deed": ("exposed a cover-up", "survived 70 days adrift", "fought the state for a decade"),
    "real_deed_plain": ("a mining town stood up to its owners", "a hospital hid a scandal", "a team defied the odds"),
    "real_year": ("1972", "1984", "1963", "1991"),
}
# Traits that can join any combination without making the plot incoherent.
EXTRA_TRAITS = ("twist ending", "thought-provoking", "romance", "violence", "social commentary", "psychology",
                "based on a book")
ADJ = ("Silent", "Broken", "Last", "Crimson", "Hollow", "Distant", "Golden", "Wild", "Quiet", "Burning")
NOUN = ("Harbor", "Orbit", "Promise", "Winter", "Garden", "Signal", "Mirror", "Road", "Kingdom", "Verdict")
TRAIT_COMBOS = (
    ("sci-fi", "twist ending"), ("sci-fi", "thought-provoking"), ("sci-fi", "action"), ("dystopia", "sci-fi"),
    ("dystopia", "social commentary"), ("dystopia", "based on a book"), ("comedy", "romance"),
    ("dark comedy", "violence"), ("dark comedy", "social commentary"), ("classic", "romance"),
    ("classic", "psychology"), ("classic", "based on a book"), ("psychology", "twist ending"),
    ("psychology", "thought-provoking"), ("fantasy", "based on a book"), ("fantasy", "comedy"),
    ("fantasy", "action"), ("true story", "social commentary"), ("true story", "violence"),
    ("true story", "thought-provoking"), ("action", "violence"), ("romance", "based on a book"),
    ("comedy", "social commentary"), ("twist ending", "violence"), ("action", "comedy"),
)


@dataclass(frozen=True)
class Tagger:
    id: str
    priority: tuple[str, ...]
    noise: float
    n_items: int
    start: date


TAGGERS: tuple[Tagger, ...] = (
    # Tags the idea of a film: twists, minds, themes.
    Tagger("mia", ("twist ending", "psychology", "thought-provoking", "dystopia", "social commentary", "dark comedy",
                   "sci-fi", "fantasy", "classic", "true story", "based on a book", "romance", "violence", "action",
                   "comedy"), 0.1, 52, date(2020, 5, 1)),
    # Tags where a film comes from first, then its genre.
    Tagger("leo", ("based on a book", "true story", "classic", "action", "comedy", "romance", "fantasy", "violence",
                   "sci-fi", "dark comedy", "dystopia", "twist ending", "psychology", "social commentary",
                   "thought-provoking"), 0.1, 48, date(2021, 1, 15)),
)


@dataclass(frozen=True)
class Movie:
    title: str
    year: int
    description: str
    traits: tuple[str, ...]


def make_movie(rng: random.Random) -> Movie:
    traits = list(pick(rng, TRAIT_COMBOS))
    if rng.random() < 0.45:
        extra = pick(rng, EXTRA_TRAITS)
        if extra not in traits:
            traits.append(extra)
    year = int(pick(rng, SLOTS_MOVIE["old_year"])) if "classic" in traits else rng.randint(1981, 2023)
    protagonist = pick(rng, PROTAGONISTS)
    slots: dict[str, list[str] | tuple[str, ...] | str] = dict(SLOTS_MOVIE)
    slots["old_year"] = str(year)
    slots["protagonist_short"] = "the " + protagonist.split(" ", 1)[1]
    sentences = [fill(rng, f"{protagonist} {pick(rng, SETUPS)}.", slots)]
    order = traits[:]
    rng.shuffle(order)
    sentences += [fill(rng, pick(rng, TRAIT_SENTENCES[t]), slots) for t in order]
    if rng.random() < 0.6:
        title = f"The {pick(rng, ADJ)} {pick(rng, NOUN)}"
    else:
        title = f"{pick(rng, NOUN)} of {pick(rng, NOUN)}s"
    return Movie(title=title, year=year, description=" ".join(sentences), traits=tuple(traits))


def make_movie_tags(rng: random.Random) -> list[dict[str, str]]:
    pool = [make_movie(rng) for _ in range(80)]
    rows: list[dict[str, str]] = []
    for tagger in TAGGERS:
        day = tagger.start
        for k, movie in enumerate(rng.sample(pool, tagger.n_items)):
            if rng.random() < tagger.noise:
                tag = pick(rng, movie.traits)
            else:
                tag = min(movie.traits, key=tagger.priority.index)
            rows.append({"user_id": tagger.id, "item_id": f"{tagger.id}-m{k + 1:03d}", "date": day.isoformat(),
                         "movie": f"{movie.title} ({movie.year})", "year": str(movie.year),
                         "description": movie.description, "tag": tag})
            day += timedelta(days=rng.randint(2, 20))
    return rows


# =================================================================================================
# Writing
# =================================================================================================

def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_lamp(stem: Path, rows: list[dict[str, str]], *, task: str, id_key: str, input_key: str, output_key: str,
               prompt: str) -> None:
    """Write ``<stem>_questions.json`` and ``<stem>_outputs.json``: one question per user (their last item)."""
    by_user: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_user.setdefault(row["user_id"], []).append(row)
    meta_keys = [k for k in rows[0] if k not in ("user_id", id_key, input_key, output_key, "date")]
    questions, golds = [], []
    for user, items in by_user.items():
        *history, last = items
        profile = [{"id": r[id_key], input_key: r[input_key], output_key: r[output_key], "date": r["date"],
                    **{k: r[k] for k in meta_keys}} for r in history]
        questions.append({"id": last[id_key], "user_id": user, "input": prompt + last[input_key],
                          "date": last["date"], **{k: last[k] for k in meta_keys}, "profile": profile})
        golds.append({"id": last[id_key], "output": last[output_key]})
    for suffix, data in (("questions", questions), ("outputs", {"task": task, "golds": golds})):
        path = stem.with_name(f"{stem.name}_{suffix}.json")
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main(out: Path = OUT) -> None:
    rng = random.Random(SEED)
    reviews = [row for row, _aspects in make_reviews(rng)]
    tags = make_movie_tags(rng)
    write_csv(out / "reviews.csv", reviews)
    write_csv(out / "movie_tags.csv", tags)
    # LaMP_3 names the profile fields text/score.
    renamed = [{"user_id": r["user_id"], "id": r["review_id"], "text": r["review_text"], "score": r["rating"],
                "date": r["date"], "product": r["product"], "category": r["category"], "price": r["price"]}
               for r in reviews]
    write_lamp(out / "lamp3_reviews", renamed, task="LaMP_3", id_key="id", input_key="text", output_key="score",
               prompt=LAMP3_PROMPT)
    lamp2 = [{"user_id": r["user_id"], "id": r["item_id"], "description": r["description"], "tag": r["tag"],
              "date": r["date"], "movie": r["movie"], "year": r["year"]} for r in tags]
    write_lamp(out / "lamp2_tags", lamp2, task="LaMP_2", id_key="id", input_key="description", output_key="tag",
               prompt=LAMP2_PROMPT)
    print(f"wrote {len(reviews)} reviews and {len(tags)} movie tags to {out}")


if __name__ == "__main__":
    main()
