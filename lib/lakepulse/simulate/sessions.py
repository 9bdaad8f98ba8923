"""One visit to the shop, planned as a list of contract events.

A session lands on a page (home, a category or a product, often from a campaign), may sign in,
search, view products, add some to the cart, and goes down the funnel
Product Viewed → Product Added → Checkout Started → Order Completed with the persona's probability at
each step (everything else is abandonment). A device that was never identified becomes known through
``identify`` at sign-in or at checkout; from then on its events also carry the ``userId``.

Events are planned relative to the session start (offsets in ms) as JSON text fragments (see
:mod:`lakepulse.simulate.wire`); the generator places the session on the timeline, and adds
``context.sessionId`` and the four times when it sends each event.
"""

from __future__ import annotations

import random

from lakepulse.contract import (
    CART_VIEWED,
    CHECKOUT_STARTED,
    ORDER_COMPLETED,
    PRODUCT_ADDED,
    PRODUCT_LIST_VIEWED,
    PRODUCT_REMOVED,
    PRODUCT_VIEWED,
    PRODUCTS_SEARCHED,
    SIGNED_IN,
    SIGNED_UP,
    product_line,
)
from lakepulse.simulate.model import CAMPAIGNS, Device, Page, Person, Product, World, message_id
from lakepulse.simulate.wire import envelope_head, json_string, json_text


class PageView:
    """The context of the events sent from one page view: ``head`` + sessionId + ``tail``; the
    generator fills ``text`` when the session start (the sessionId) is known."""

    __slots__ = ("head", "tail", "text")

    def __init__(self, head: str, tail: str) -> None:
        self.head = head
        self.tail = tail
        self.text: str | None = None


# One event of a planned session, as text parts (a plain tuple: the hot path builds ~10^5 a second):
# (offset from the session start ms, send delay ms, network latency ms,
#  head '{"type":…,"messageId":…,"anonymousId":…[,"userId":…],"context":', context PageView,
#  body ',"event":…,"properties":{…}' | ',"name":…,"properties":{…}' | ',"traits":{…}',
#  then for the ground truth: name (track event name, else the call type), userId, revenue of an order)
PlannedEvent = tuple[int, int, int, str, PageView, str, str, str | None, float | None]


HOME_PAGE = Page.at("/", "Home")
SIGN_IN_PAGE = Page.at("/account/sign-in", "Sign in")
CART_PAGE = Page.at("/cart", "Your cart")
CHECKOUT_PAGE = Page.at("/checkout", "Checkout")
CONFIRMATION_PAGE = Page.at("/checkout/confirmation", "Thank you for your order")
ORGANIC_REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")

_TRACK_BODIES = {name: f',"event":{json_string(name)},"properties":' for name in (
    CART_VIEWED, CHECKOUT_STARTED, ORDER_COMPLETED, PRODUCT_ADDED, PRODUCT_LIST_VIEWED, PRODUCT_REMOVED,
    PRODUCT_VIEWED, PRODUCTS_SEARCHED, SIGNED_IN, SIGNED_UP)}
_PAGE_NAMES = {name: f',"name":{json_string(name)},"properties":' for name in (
    "Home", "Category", "Product", "Search Results", "Sign In", "Cart", "Checkout", "Order Confirmation")}
_SIGNED_IN = json_text({"method": "password"})
_SIGNED_UP = json_text({"method": "checkout"})
DELAY_BITS = 12
# Product pages per session: gamma-distributed around the persona's mean with this shape (the
# coefficient of variation is 1 / sqrt(shape)), so a session's browsing is like its persona's
# rather than anything from none to many times as much.
VIEWS_SHAPE = 3.0


def send_delays(rng: random.Random) -> list[tuple[int, int]]:
    """``2 ** DELAY_BITS`` draws of (send delay ms, network latency ms) to pick from per event (a
    table is faster than drawing from the distributions each time). Browsers send at once; now and
    then a beacon waits for the next flush (up to 30 s); the network takes tens of milliseconds."""
    draws = []
    for _ in range(2 ** DELAY_BITS):
        delay = 20 + int(rng.expovariate(1 / 150)) if rng.random() < 0.95 else 1000 + int(rng.random() * 29_000)
        draws.append((min(delay, 30_000), min(2000, 15 + int(rng.expovariate(1 / 80)))))
    return draws


class _Visit:
    """The state of one session while it is planned: who, which device, the current page."""

    __slots__ = ("rng", "delays", "person", "device", "context_tail", "user_member", "user_id", "offset",
                 "events", "page_json", "referrer_json", "view")

    def __init__(self, rng: random.Random, delays: list[tuple[int, int]], person: Person, device: Device,
                 campaign_json: str, referrer: str) -> None:
        self.rng = rng
        self.delays = delays
        self.person = person
        self.device = device
        self.context_tail = campaign_json  # context members after sessionId, before page
        self.user_id: str | None = None
        self.user_member = ""
        if device.identified:
            self._known()
        self.offset = 0
        self.events: list[PlannedEvent] = []
        self.page_json = HOME_PAGE.head_json + '""}'
        self.referrer_json = json_string(referrer)
        self.view = self._page_view()

    def _known(self) -> None:
        self.user_id = self.person.user_id
        self.user_member = ',"userId":' + self.person.user_id_json
        self.context_tail += ',"traits":' + self.person.traits_json

    def _page_view(self) -> PageView:
        return PageView(self.device.context_json + ',"sessionId":',
                        self.context_tail + ',"page":' + self.page_json + "}")

    def wait(self, mean_ms: float, minimum_ms: int = 1000) -> None:
        """Time passes on the page: ``minimum_ms`` plus an exponential wait with mean ``mean_ms``."""
        self.offset += minimum_ms + int(self.rng.expovariate(1.0 / mean_ms))

    def _add(self, call_type: str, body: str, name: str, revenue: float | None = None) -> None:
        rng = self.rng
        delay, latency = self.delays[rng.getrandbits(DELAY_BITS)]
        head = envelope_head(call_type, message_id(rng), self.device.anonymous_id_json, self.user_member)
        self.events.append((self.offset, delay, latency, head, self.view, body, name, self.user_id, revenue))

    def view_page(self, name: str, page: Page) -> None:
        """A ``page`` call; the page becomes ``context.page`` of what follows."""
        self.page_json = page.head_json + self.referrer_json + "}"
        self.referrer_json = page.url_json
        self.view = self._page_view()
        self._add("page", _PAGE_NAMES[name] + self.page_json, "page")

    def track(self, name: str, properties_json: str, revenue: float | None = None) -> None:
        """A ``track`` call a moment after the page loaded."""
        self.offset += 50 + int(self.rng.random() * 1200)
        self._add("track", _TRACK_BODIES[name] + properties_json, name, revenue)

    def identify(self) -> None:
        """Sign-in or checkout: this device becomes known as the person's userId."""
        self.offset += 200 + int(self.rng.random() * 800)
        self._known()
        self.view = self._page_view()
        self._add("identify", ',"traits":' + self.person.traits_json, "identify")
        self.device.identified = True


class SessionPlanner:
    """Plans sessions for the people of a :class:`~lakepulse.simulate.model.World`.

    Planning updates the people (a device becomes identified, an order is counted), so sessions
    must be planned in the order they are sent.
    """

    def __init__(self, world: World, currency: str, rng: random.Random) -> None:
        self.world = world
        self.currency = currency
        self.rng = rng
        catalogue = world.catalogue
        self._category_index = {name: index for index, name in enumerate(catalogue.category_names)}
        self._list_viewed = [json_text({"list_id": page.path, "category": name})
                             for name, page in zip(catalogue.category_names, catalogue.category_pages, strict=True)]
        self._delays = send_delays(rng)

    def plan(self, person: Person) -> tuple[Device, list[PlannedEvent]]:
        """One session of ``person``: the device used and its events (at least one)."""
        rng = self.rng
        persona = person.persona
        catalogue = self.world.catalogue
        devices = person.devices
        device = devices[0] if len(devices) == 1 or rng.random() < 0.6 else devices[1]
        campaign = (CAMPAIGNS[self.world.campaigns[persona.name].pick(rng)]
                    if rng.random() < persona.campaign_response else None)
        if campaign is not None:
            referrer = campaign.referrer
        else:
            referrer = ORGANIC_REFERRERS[int(rng.random() * 3)] if rng.random() < 0.45 else ""
        visit = _Visit(rng, self._delays, person, device, campaign.context_json if campaign is not None else "",
                       referrer)
        lift = persona.campaign_lift if campaign is not None else 1.0
        if campaign is not None and campaign.category is not None:
            focus: int | None = self._category_index[campaign.category]
        else:
            focus = person.favourite_category if rng.random() < 0.5 else None

        # Landing page.
        landing = rng.random()
        if landing < 0.4:
            self._view_product(visit, catalogue.pick(rng, persona.name, focus))
        elif landing < 0.65:
            category = focus if focus is not None else person.favourite_category
            visit.view_page("Category", catalogue.category_pages[category])
            visit.track(PRODUCT_LIST_VIEWED, self._list_viewed[category])
        else:
            visit.view_page("Home", HOME_PAGE)

        if person.registered and not device.identified and rng.random() < persona.login:
            visit.wait(8000)
            visit.view_page("Sign In", SIGN_IN_PAGE)
            visit.wait(10_000)
            visit.identify()
            visit.track(SIGNED_IN, _SIGNED_IN)

        if rng.random() < persona.search:
            visit.wait(10_000)
            query = catalogue.pick(rng, persona.name, focus).name.split(" ", 2)[-1].lower()
            visit.view_page("Search Results", Page.at("/search?q=" + query.replace(" ", "+"), f"Search: {query}"))
            visit.track(PRODUCTS_SEARCHED, json_text({"query": query}))

        cart: list[tuple[Product, int]] = []
        cart_id = f"{rng.getrandbits(64):016x}"
        for _ in range(round(rng.gammavariate(VIEWS_SHAPE, persona.product_views / VIEWS_SHAPE))):
            visit.wait(25_000, minimum_ms=3000)
            product = catalogue.pick(rng, persona.name, focus if rng.random() < 0.6 else None)
            self._view_product(visit, product)
            if rng.random() < persona.add_to_cart * lift:
                visit.wait(8000)
                quantity = 1 + (int(rng.expovariate(1.0 / persona.extra_units)) if persona.extra_units else 0)
                # {**product.viewed, "quantity": quantity, "cart_id": cart_id}
                added = f'{product.viewed_json[:-1]},"quantity":{quantity},"cart_id":"{cart_id}"}}'
                visit.track(PRODUCT_ADDED, added)
                cart.append((product, quantity))
                if rng.random() < 0.06:  # changed their mind
                    visit.wait(15_000)
                    visit.track(PRODUCT_REMOVED, added)
                    cart.pop()

        if cart and rng.random() < min(0.95, persona.checkout * lift):
            self._checkout(visit, cart, cart_id)
        return device, visit.events

    def _view_product(self, visit: _Visit, product: Product) -> None:
        visit.view_page("Product", product.page)
        visit.track(PRODUCT_VIEWED, product.viewed_json)

    def _checkout(self, visit: _Visit, cart: list[tuple[Product, int]], cart_id: str) -> None:
        rng = self.rng
        person = visit.person
        lines = [product_line(p.product_id, price=p.price, quantity=q, sku=p.sku, name=p.name, brand=p.brand,
                              category=p.category) for p, q in cart]
        revenue = round(sum(p.price * q for p, q in cart), 2)
        visit.wait(15_000)
        visit.view_page("Cart", CART_PAGE)
        visit.track(CART_VIEWED, json_text({"cart_id": cart_id, "products": lines}))
        visit.wait(12_000)
        visit.view_page("Checkout", CHECKOUT_PAGE)
        if not visit.device.identified:  # guest checkout or sign-up: the email makes the device known
            visit.wait(30_000)
            visit.identify()
            if not person.registered:
                visit.track(SIGNED_UP, _SIGNED_UP)
                person.registered = True
        order_id = f"ORD-{rng.getrandbits(48):012X}"
        order = json_text({"order_id": order_id, "revenue": revenue, "currency": self.currency, "products": lines})
        visit.track(CHECKOUT_STARTED, order)
        limit = person.persona.max_orders
        if (not limit or person.orders < limit) and rng.random() < person.persona.purchase:
            visit.wait(60_000, minimum_ms=10_000)
            visit.track(ORDER_COMPLETED, order, revenue)
            person.orders += 1
            visit.wait(2000, minimum_ms=500)
            visit.view_page("Order Confirmation", CONFIRMATION_PAGE)
