"""The simulated world: personas, the product catalogue, campaigns, people with their devices, and
the daily rhythm of traffic.

Everything here is built once per run from a seeded :class:`random.Random`; afterwards the event
generator only draws from precomputed tables (cumulative weights + ``bisect``), a few hundred
nanoseconds per draw. A person's persona is hidden: it is never written into an event, only into the
ground truth, so segmentation can be checked against it.

Example::

    world = build_world(SimulatorSettings(users=1000), random.Random(7))
    world.people[0].persona.name        # e.g. "bargain_hunter"
"""

from __future__ import annotations

import random
import statistics
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from lakepulse.settings import SimulatorSettings
from lakepulse.simulate.clock import DAY_MS, HOUR_MS
from lakepulse.simulate.wire import json_string, json_text, members

SHOP_URL = "https://shop.example.com"
LIBRARY = {"name": "analytics.js", "version": "4.1.0"}
_LIBRARY_JSON = json_text(LIBRARY)


# ---------------------------------------------------------------------------------------------
# Personas
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Persona:
    """How one kind of customer behaves: when and how often they come, and what they do in a visit.
    Probabilities are per session or per step.

    A **regular** persona keeps coming back throughout its part of the timeline: ``visits`` is
    relative, and the run's event budget sets how many visits that is (see
    :mod:`lakepulse.simulate.schedule`). Any other persona makes about ``visits`` visits whatever the
    budget. One person's visits fall in a stretch of ``spread`` x the persona's part of the
    timeline (``active_from`` .. ``active_to``, fractions of the run's traffic): 1 spreads them over
    all of it, a small value makes a burst of visits (one-time buyers), and ``active_to`` < 1 people
    who came early and left (dormant).
    """

    name: str
    regular: bool            # visits scale with the run's event budget (else a fixed number)
    visits: float            # mean visits per person (relative for regular personas)
    product_views: float     # mean product pages per session
    add_to_cart: float       # P(Product Added | Product Viewed)
    checkout: float          # P(Checkout Started | cart not empty at the end of browsing)
    purchase: float          # P(Order Completed | Checkout Started)
    extra_units: float       # mean units per cart line beyond the first (basket size)
    price_sensitivity: float  # > 0 favours cheap products, < 0 expensive ones (exponent on price)
    campaign_response: float  # P(a session arrives from a campaign)
    campaign_lift: float     # factor on add_to_cart and checkout in campaign sessions
    deal_affinity: float     # weight of discount campaigns relative to the others
    registered: float        # P(the person has an account when the simulation starts)
    login: float             # P(a registered person signs in at the start of a session)
    search: float            # P(a session includes a search)
    active_from: float = 0.0  # the part of the timeline the persona visits in (fractions of the traffic)
    active_to: float = 1.0
    spread: float = 1.0      # share of that part one person's visits span
    max_orders: int = 0      # 0: no limit; a person who reached it does not come back


WINDOW_SHOPPER = "window_shopper"
BARGAIN_HUNTER = "bargain_hunter"
LOYAL_HIGH_SPENDER = "loyal_high_spender"
ONE_TIME_BUYER = "one_time_buyer"
DORMANT = "dormant"

# Each persona differs from the others in what defines it, the way customer types differ in
# real shops: window shoppers come often and browse a lot but almost never buy; bargain hunters
# come often, mostly from deal campaigns, and buy cheap baskets most times; loyal high spenders
# come back steadily, look at a few expensive things and buy nearly every time; one-time buyers
# come in a burst of a visit or two, buy once and do not come back; dormant people came a time or
# two at the start of the timeline and left.
PERSONAS: dict[str, Persona] = {p.name: p for p in (
    Persona(WINDOW_SHOPPER, regular=True, visits=8.0, product_views=9.0, add_to_cart=0.04, checkout=0.08,
            purchase=0.05, extra_units=0.2, price_sensitivity=0.3, campaign_response=0.25, campaign_lift=1.2,
            deal_affinity=1.0, registered=0.3, login=0.3, search=0.6),
    Persona(BARGAIN_HUNTER, regular=True, visits=7.0, product_views=7.0, add_to_cart=0.3, checkout=0.8,
            purchase=0.85, extra_units=1.0, price_sensitivity=2.5, campaign_response=0.7, campaign_lift=1.3,
            deal_affinity=6.0, registered=0.6, login=0.6, search=0.5),
    Persona(LOYAL_HIGH_SPENDER, regular=True, visits=6.0, product_views=3.0, add_to_cart=0.6, checkout=0.9,
            purchase=0.9, extra_units=0.3, price_sensitivity=-1.5, campaign_response=0.15, campaign_lift=1.1,
            deal_affinity=0.3, registered=0.95, login=0.9, search=0.3),
    Persona(ONE_TIME_BUYER, regular=False, visits=3.0, product_views=4.0, add_to_cart=0.6, checkout=0.95,
            purchase=0.95, extra_units=0.1, price_sensitivity=0.3, campaign_response=0.4, campaign_lift=1.2,
            deal_affinity=1.5, registered=0.1, login=0.2, search=0.5, spread=0.05, max_orders=1),
    Persona(DORMANT, regular=False, visits=1.3, product_views=1.5, add_to_cart=0.02, checkout=0.2,
            purchase=0.3, extra_units=0.0, price_sensitivity=0.4, campaign_response=0.1, campaign_lift=1.0,
            deal_affinity=1.0, registered=0.4, login=0.2, search=0.2, active_to=0.25, spread=0.3),
)}


def persona_shares(config: SimulatorSettings) -> dict[str, float]:
    """Share of the simulated users per persona, from ``simulator.persona_*`` (adds up to 1)."""
    return {
        WINDOW_SHOPPER: config.persona_window_shopper,
        BARGAIN_HUNTER: config.persona_bargain_hunter,
        LOYAL_HIGH_SPENDER: config.persona_loyal_high_spender,
        ONE_TIME_BUYER: config.persona_one_time_buyer,
        DORMANT: config.persona_dormant,
    }


def persona_quotas(users: int, shares: dict[str, float]) -> dict[str, int]:
    """Whole numbers of users per persona, adding up to ``users`` (largest-remainder rounding)."""
    total = sum(shares.values())
    exact = {name: users * share / total for name, share in shares.items()}
    quotas = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: (quotas[name] - exact[name], name))
    for name in by_remainder[: users - sum(quotas.values())]:
        quotas[name] += 1
    return quotas


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------
# category -> (median price, brands, product nouns)
CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "Electronics": (180.0, ("Voltix", "Sonara", "Pixelon", "Nuvio", "Kestrel"),
                    ("Headphones", "Smartwatch", "Speaker", "Tablet", "Camera", "Charger")),
    "Home & Kitchen": (45.0, ("Casaluna", "Hearthly", "Brewmaster", "Oakline"),
                       ("Coffee Maker", "Knife Set", "Blender", "Dutch Oven", "Table Lamp")),
    "Fashion": (55.0, ("Northfold", "Urbanite", "Linnea", "Velour"),
                ("Jacket", "Sneakers", "Dress", "Jeans", "Scarf", "Hoodie")),
    "Beauty": (25.0, ("Dewdrop", "Botanica", "Lumina"), ("Serum", "Moisturizer", "Lipstick", "Shampoo")),
    "Sports & Outdoors": (70.0, ("Trailpeak", "Stridex", "Aquafin"),
                          ("Running Shoes", "Yoga Mat", "Tent", "Water Bottle", "Backpack")),
    "Toys & Games": (30.0, ("Playwell", "Brickly", "Funforge"), ("Puzzle", "Board Game", "Building Set", "Plush")),
    "Books": (18.0, ("Inkwell Press", "Meridian Books"), ("Novel", "Cookbook", "Travel Guide", "Biography")),
    "Grocery": (9.0, ("Harvest Table", "Green Basket"), ("Coffee Beans", "Olive Oil", "Granola", "Green Tea")),
    "Garden": (40.0, ("Verdant", "Rootstock"), ("Planter", "Garden Hose", "Pruner", "Seed Kit")),
    "Pet Supplies": (28.0, ("Pawsome", "Tailwag"), ("Dog Bed", "Cat Tree", "Chew Toy", "Pet Food")),
    "Jewelry": (120.0, ("Aurelia", "Gemline"), ("Necklace", "Ring", "Earrings", "Bracelet")),
}
_ADJECTIVES = ("Classic", "Pro", "Essential", "Premium", "Compact", "Deluxe", "Everyday", "Ultra", "Eco",
               "Signature", "Lite", "Max")
ZIPF_EXPONENT = 1.1  # popularity of the product at rank r is proportional to r ** -ZIPF_EXPONENT
# Price taste is relative to this price (the median category's): a bargain hunter prefers groceries
# and books to electronics, a high spender the other way round.
REFERENCE_PRICE = statistics.median(median for median, _, _ in CATEGORIES.values())


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).replace("--", "-").strip("-")


@dataclass(frozen=True)
class Page:
    """A page of the shop; ``head_json`` is its properties' JSON up to the referrer's value."""

    path: str
    url: str
    title: str
    head_json: str  # '{"path":…,"url":…,"title":…,"referrer":'
    url_json: str   # the url as a JSON string (the next page's referrer)

    @classmethod
    def at(cls, path: str, title: str) -> Page:
        url = SHOP_URL + path
        head = "{" + members({"path": path, "url": url, "title": f"{title} | Northwind Shop"}) + ',"referrer":'
        return cls(path, url, f"{title} | Northwind Shop", head, json_string(url))


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    brand: str
    category: str
    category_index: int
    price: float
    viewed: dict[str, Any]  # flat Product Viewed properties (shared, never mutated)
    viewed_json: str        # the same as JSON text
    page: Page


@dataclass
class Sampler:
    """Draws indices with fixed weights: ``pick(rng)`` costs one ``random()`` and one ``bisect``."""

    items: list[int]
    cumulative: list[float]

    @classmethod
    def of(cls, items: list[int], weights: list[float]) -> Sampler:
        if not items:
            raise ValueError("a sampler needs at least one item")
        return cls(items, list(accumulate(weights)))

    def pick(self, rng: random.Random) -> int:
        index = bisect(self.cumulative, rng.random() * self.cumulative[-1])
        return self.items[min(index, len(self.items) - 1)]


@dataclass
class Catalogue:
    products: list[Product]
    category_names: list[str]
    category_pages: list[Page]
    # persona name -> [sampler over all products, sampler per category index]
    samplers: dict[str, tuple[Sampler, list[Sampler | None]]]
    favourites: dict[str, Sampler]  # persona name -> sampler over category indices (a person's favourite)

    def pick(self, rng: random.Random, persona: str, category: int | None = None) -> Product:
        """A product this persona looks at: popular ones more often, priced to its taste;
        within ``category`` when given (and stocked)."""
        overall, per_category = self.samplers[persona]
        sampler = per_category[category] if category is not None else None
        return self.products[(sampler or overall).pick(rng)]


def build_catalogue(products: int, currency: str, rng: random.Random) -> Catalogue:
    """``products`` items over :data:`CATEGORIES` with log-normal prices around each category's
    median (ending in .99 or .49) and Zipf-skewed popularity in random rank order; each persona
    looks at products, and picks a favourite category, by popularity x (price / reference price)
    ** -price_sensitivity."""
    names = list(CATEGORIES)
    items: list[Product] = []
    for number in range(1, products + 1):
        category_index = int(rng.random() * len(names))
        category = names[category_index]
        median, brands, nouns = CATEGORIES[category]
        brand = brands[int(rng.random() * len(brands))]
        noun = nouns[int(rng.random() * len(nouns))]
        name = f"{brand} {_ADJECTIVES[int(rng.random() * len(_ADJECTIVES))]} {noun}"
        whole = max(1.0, round(median * rng.lognormvariate(0.0, 0.6)))
        price = round(whole - (0.01 if rng.random() < 0.7 else 0.51), 2)
        product_id = f"P{number:06d}"
        sku = f"{brand[:3].upper()}-{category[:2].upper()}-{number:06d}"
        page = Page.at(f"/p/{_slug(name)}-{number}", name)
        viewed = {"product_id": product_id, "sku": sku, "name": name, "brand": brand, "category": category,
                  "price": price, "currency": currency, "url": page.url}
        items.append(Product(product_id, sku, name, brand, category, category_index, price, viewed,
                             json_text(viewed), page))
    ranks = list(range(1, products + 1))
    rng.shuffle(ranks)
    popularity = [rank ** -ZIPF_EXPONENT for rank in ranks]
    stocked = [[i for i, p in enumerate(items) if p.category_index == index] for index in range(len(names))]
    samplers: dict[str, tuple[Sampler, list[Sampler | None]]] = {}
    for persona in PERSONAS.values():
        weights = [pop * (p.price / REFERENCE_PRICE) ** -persona.price_sensitivity
                   for pop, p in zip(popularity, items, strict=True)]
        per_category = [Sampler.of(indices, [weights[i] for i in indices]) if indices else None
                        for indices in stocked]
        samplers[persona.name] = (Sampler.of(list(range(products)), weights), per_category)
    favourites = {persona.name: Sampler.of(
        list(range(len(names))),
        [(CATEGORIES[name][0] / REFERENCE_PRICE) ** -persona.price_sensitivity for name in names])
        for persona in PERSONAS.values()}
    return Catalogue(items, names, [Page.at(f"/c/{_slug(n)}", n) for n in names], samplers, favourites)


# ---------------------------------------------------------------------------------------------
# Campaigns
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Campaign:
    context: dict[str, str]  # context.campaign: name, source, medium, term, content
    referrer: str            # where the click came from ("" for email clients)
    deal: bool               # a discount campaign (bargain hunters respond to these)
    category: str | None     # the category it promotes, if any
    context_json: str        # ',"campaign":{…}', to splice into a context


def _campaign(name: str, source: str, medium: str, term: str, content: str, referrer: str,
              deal: bool, category: str | None = None) -> Campaign:
    context = {"name": name, "source": source, "medium": medium, "term": term, "content": content}
    return Campaign(context, referrer, deal, category, "," + members({"campaign": context}))


CAMPAIGNS = (
    _campaign("spring_sale", "google", "cpc", "running shoes", "search_ad_a", "https://www.google.com/",
              True, "Sports & Outdoors"),
    _campaign("brand_search", "google", "cpc", "northwind shop", "search_ad_brand", "https://www.google.com/", False),
    _campaign("weekly_newsletter", "newsletter", "email", "weekly", "hero_banner", "", False),
    _campaign("flash_discount_20", "newsletter", "email", "discount", "cta_button", "", True),
    _campaign("retargeting_cart", "facebook", "paid_social", "abandoned_cart", "carousel",
              "https://l.facebook.com/", True),
    _campaign("summer_collection", "instagram", "paid_social", "summer", "story_video",
              "https://l.instagram.com/", False, "Fashion"),
    _campaign("premium_picks", "google", "display", "premium", "banner_300x250",
              "https://googleads.g.doubleclick.net/", False, "Electronics"),
    _campaign("loyalty_rewards", "crm", "email", "vip", "points_reminder", "", False),
    _campaign("clearance", "bing", "cpc", "clearance sale", "text_ad", "https://www.bing.com/", True),
    _campaign("affiliate_deals", "dealsite", "affiliate", "coupon", "deal_listing", "https://www.dealsite.example/",
              True),
)


def campaign_samplers() -> dict[str, Sampler]:
    """Per persona, a sampler over :data:`CAMPAIGNS` weighted by its deal affinity."""
    return {p.name: Sampler.of(list(range(len(CAMPAIGNS))),
                               [p.deal_affinity if c.deal else 1.0 for c in CAMPAIGNS])
            for p in PERSONAS.values()}


# ---------------------------------------------------------------------------------------------
# People and devices
# ---------------------------------------------------------------------------------------------
_FIRST_NAMES = ("maria", "james", "sofia", "liam", "emma", "noah", "olivia", "lucas", "mia", "ethan", "anna",
                "leon", "chloe", "mateo", "zoe", "omar", "yuki", "priya", "lars", "ines")
_LAST_NAMES = ("garcia", "smith", "muller", "rossi", "martin", "kowalski", "jensen", "silva", "dubois", "tanaka",
               "patel", "nguyen", "brown", "novak", "berg", "costa", "murphy", "weber", "haddad", "kim")
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
_LOCALES = ("en-US", "en-US", "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL")
_DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
)
_MOBILE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
)
# First octets of widely used public IPv4 blocks (no private or reserved ranges).
_IP_FIRST_OCTETS = (24, 31, 37, 46, 62, 66, 73, 77, 81, 86, 92, 98, 104, 109, 151, 176, 185, 188, 203, 212)


def random_id(rng: random.Random) -> str:
    """A UUID-4-shaped id from ``rng`` (reproducible, unlike :func:`uuid.uuid4`): anonymousIds."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def message_id(rng: random.Random) -> str:
    """A messageId from ``rng``: 128 random bits as 32 hex digits."""
    return f"{rng.getrandbits(128):032x}"


@dataclass(eq=False)
class Device:
    """One browser: its own anonymousId, client clock skew and, once signed in, the userId."""

    anonymous_id: str
    user_agent: str
    ip: str
    locale: str
    skew_ms: int         # device clock minus true time
    identified: bool = False
    anonymous_id_json: str = ""
    context_json: str = ""  # '{"ip":…,"userAgent":…,"locale":…,"library":{…}', the start of its contexts

    def __post_init__(self) -> None:
        # Spliced by hand rather than with members(): a million devices are built per run on clusters.
        self.anonymous_id_json = json_string(self.anonymous_id)
        self.context_json = (f'{{"ip":{json_string(self.ip)},"userAgent":{json_string(self.user_agent)},'
                             f'"locale":{json_string(self.locale)},"library":{_LIBRARY_JSON}')


@dataclass(eq=False)
class Person:
    index: int
    user_id: str
    persona: Persona
    traits: dict[str, str]  # identify traits (email, firstName, lastName); shared, never mutated
    devices: list[Device]
    registered: bool
    favourite_category: int
    activity: float         # individual factor on the persona's visits
    orders: int = 0
    active: bool = False    # a session of this person is in progress
    user_id_json: str = ""
    traits_json: str = ""   # the identify traits as JSON text

    def __post_init__(self) -> None:
        self.user_id_json = json_string(self.user_id)
        self.traits_json = "{" + ",".join(f"{json_string(k)}:{json_string(v)}" for k, v in self.traits.items()) + "}"


def _clock_skew_ms(rng: random.Random) -> int:
    """Most device clocks are within a second or two; some minutes off; a few hours (wrong zone)."""
    draw = rng.random()
    if draw < 0.8:
        return int(rng.gauss(0.0, 1500.0))
    if draw < 0.97:
        return int(rng.gauss(0.0, 180_000.0))
    return int(rng.choice((-2, -1, 1, 2)) * HOUR_MS + rng.gauss(0.0, 60_000.0))


def _device(rng: random.Random, locale: str, mobile: bool) -> Device:
    agents = _MOBILE_AGENTS if mobile else _DESKTOP_AGENTS
    ip = (f"{_IP_FIRST_OCTETS[int(rng.random() * len(_IP_FIRST_OCTETS))]}.{int(rng.random() * 256)}."
          f"{int(rng.random() * 256)}.{1 + int(rng.random() * 254)}")
    return Device(random_id(rng), agents[int(rng.random() * len(agents))], ip, locale, _clock_skew_ms(rng))


# A person's visit frequency is their persona's times a log-normal factor this wide (sigma): people
# of one kind differ, but less than the kinds differ from each other.
ACTIVITY_SPREAD = 0.2


def make_person(index: int, persona: Persona, catalogue: Catalogue, second_device_share: float,
                rng: random.Random) -> Person:
    """One person of ``persona`` (user id ``user-<index + 1>``): a name and email, one device and
    a second one with probability ``second_device_share``, a favourite category to their taste."""
    first = _FIRST_NAMES[int(rng.random() * len(_FIRST_NAMES))]
    last = _LAST_NAMES[int(rng.random() * len(_LAST_NAMES))]
    email = f"{first}.{last}{index}@{_EMAIL_DOMAINS[int(rng.random() * len(_EMAIL_DOMAINS))]}"
    traits = {"email": email, "firstName": first.title(), "lastName": last.title()}
    locale = _LOCALES[int(rng.random() * len(_LOCALES))]
    devices = [_device(rng, locale, mobile=rng.random() < 0.55)]
    if rng.random() < second_device_share:
        devices.append(_device(rng, locale, mobile=True))
    return Person(
        index=index, user_id=f"user-{index + 1:07d}", persona=persona, traits=traits, devices=devices,
        registered=rng.random() < persona.registered,
        favourite_category=catalogue.favourites[persona.name].pick(rng),
        activity=rng.lognormvariate(0.0, ACTIVITY_SPREAD),
    )


def build_people(config: SimulatorSettings, catalogue: Catalogue, rng: random.Random) -> list[Person]:
    """``config.users`` people with personas in exactly the configured mix (shuffled); see
    :func:`make_person`."""
    quotas = persona_quotas(config.users, persona_shares(config))
    personas = [PERSONAS[name] for name, count in quotas.items() for _ in range(count)]
    rng.shuffle(personas)
    return [make_person(index, persona, catalogue, config.second_device_share, rng)
            for index, persona in enumerate(personas)]


# ---------------------------------------------------------------------------------------------
# Daily rhythm
# ---------------------------------------------------------------------------------------------
# Relative traffic per UTC hour: quiet nights, a lunch bump and an evening peak.
HOURLY_TRAFFIC = (0.30, 0.18, 0.12, 0.09, 0.08, 0.10, 0.20, 0.40, 0.60, 0.75, 0.85, 0.92,
                  1.00, 0.95, 0.88, 0.86, 0.90, 1.00, 1.15, 1.30, 1.40, 1.30, 0.95, 0.55)
WEEKEND_FACTOR = 1.15


@dataclass
class Timeline:
    """Maps a fraction of the run's traffic to a moment in ``[start_ms, end_ms]`` so that traffic
    follows :data:`HOURLY_TRAFFIC` (and a busier weekend)."""

    start_ms: int
    end_ms: int
    bounds: list[int] = field(default_factory=list)       # bucket start times, then end_ms
    cumulative: list[float] = field(default_factory=list)  # traffic share up to each bucket's end

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the timeline must end after it starts")
        bounds = [self.start_ms]
        while bounds[-1] < self.end_ms:
            bounds.append(min(self.end_ms, (bounds[-1] // HOUR_MS + 1) * HOUR_MS))
        weights = []
        for low, high in zip(bounds, bounds[1:], strict=False):
            hour = (low // HOUR_MS) % 24
            weekday = (low // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
            weights.append(HOURLY_TRAFFIC[hour] * (WEEKEND_FACTOR if weekday >= 5 else 1.0) * (high - low))
        total = sum(weights)
        self.bounds = bounds
        self.cumulative = [w / total for w in accumulate(weights)]

    def at(self, fraction: float) -> int:
        """The moment (epoch ms) by which ``fraction`` (0..1) of the traffic has happened."""
        if fraction >= 1.0:
            return self.end_ms
        bucket = min(bisect(self.cumulative, fraction), len(self.cumulative) - 1)
        before = self.cumulative[bucket - 1] if bucket else 0.0
        share = (fraction - before) / (self.cumulative[bucket] - before)
        low, high = self.bounds[bucket], self.bounds[bucket + 1]
        return min(high, low + int(share * (high - low)))


@dataclass
class World:
    """Everything the generator draws from (built once per run)."""

    catalogue: Catalogue
    people: list[Person]
    campaigns: dict[str, Sampler]
    person_of_device: dict[str, Person]


def build_world(config: SimulatorSettings, rng: random.Random) -> World:
    """The catalogue, people and samplers for one run (consumes ``rng``)."""
    catalogue = build_catalogue(config.products, config.currency, rng)
    people = build_people(config, catalogue, rng)
    devices = {d.anonymous_id: p for p in people for d in p.devices}
    return World(catalogue, people, campaign_samplers(), devices)
