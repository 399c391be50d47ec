"""Product catalogue, promotions and the turning of a drawn order value into order lines.

Order lines are chosen so that their total is close to the order value drawn from the Gamma-Gamma model: the
value is split into per-line budgets, each line takes a product from the price band that fits its budget
(popularity within a band is Zipf-like), and the quantity makes up the rest. Planted association pairs then
add product B to baskets that hold product A with a fixed probability, which gives them a known, high lift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestration.demo.config import DAY, OBS_END, OBS_START, WEEK

CATEGORIES: dict[str, tuple[float, dict[str, list[str]]]] = {
    # category: (median list price EUR, {subcategory: product nouns})
    "Electronics": (
        45.0,
        {
            "Headphones": ["Earbuds", "Headphones", "Headset"],
            "Chargers": ["Charger", "Power Bank", "USB-C Cable"],
            "Speakers": ["Speaker", "Soundbar"],
            "Smart Home": ["Smart Plug", "Smart Bulb"],
        },
    ),
    "Home & Kitchen": (
        30.0,
        {
            "Cookware": ["Frying Pan", "Saucepan", "Wok"],
            "Coffee": ["Coffee Beans", "French Press", "Coffee Grinder"],
            "Storage": ["Storage Box", "Food Container"],
            "Tableware": ["Mug", "Plate Set"],
        },
    ),
    "Fashion": (
        40.0,
        {
            "T-Shirts": ["T-Shirt", "Polo Shirt"],
            "Jackets": ["Rain Jacket", "Fleece Jacket"],
            "Shoes": ["Sneakers", "Running Shoes", "Boots"],
            "Accessories": ["Scarf", "Cap", "Belt"],
        },
    ),
    "Beauty": (
        18.0,
        {
            "Skincare": ["Face Cream", "Serum", "Cleanser"],
            "Haircare": ["Shampoo", "Conditioner"],
            "Fragrance": ["Eau de Parfum", "Body Mist"],
        },
    ),
    "Sports & Outdoors": (
        35.0,
        {
            "Running": ["Running Belt", "Sports Socks"],
            "Yoga": ["Yoga Mat", "Yoga Block"],
            "Camping": ["Tent", "Sleeping Bag", "Camping Stove"],
            "Cycling": ["Bike Light", "Bike Lock"],
        },
    ),
    "Toys & Games": (
        25.0,
        {
            "Board Games": ["Board Game", "Card Game"],
            "Puzzles": ["Puzzle"],
            "Building Sets": ["Building Set", "Marble Run"],
        },
    ),
    "Books & Media": (
        14.0,
        {
            "Fiction": ["Novel", "Thriller"],
            "Cookbooks": ["Cookbook"],
            "Kids Books": ["Picture Book", "Activity Book"],
        },
    ),
    "Garden": (
        28.0,
        {
            "Tools": ["Pruning Shears", "Garden Hose", "Rake"],
            "Plants": ["Plant Pot", "Seed Kit"],
            "Outdoor Furniture": ["Garden Chair", "Parasol"],
        },
    ),
    "Pet Supplies": (
        20.0,
        {
            "Dog": ["Dog Toy", "Dog Bed", "Dog Leash"],
            "Cat": ["Cat Food", "Scratching Post"],
            "Aquarium": ["Aquarium Filter", "Fish Food"],
        },
    ),
    "Office": (
        9.0,
        {
            "Notebooks": ["Notebook A5", "Notebook A4"],
            "Pens": ["Fountain Pen", "Gel Pen Set"],
            "Desk Accessories": ["Desk Lamp", "Desk Organizer"],
        },
    ),
}
BRAND_SYLLABLES = [
    "Vol",
    "Nor",
    "Sen",
    "Kal",
    "Mira",
    "Tek",
    "Lum",
    "Aro",
    "Ven",
    "Sol",
    "Fjor",
    "Zen",
    "Orb",
    "Pax",
    "Riva",
    "Tal",
]
BRAND_ENDINGS = ["tix", "da", "ora", "ex", "io", "line", "a", "ko"]
ADJECTIVES = ["Classic", "Pro", "Eco", "Compact", "Deluxe", "Essential", "Premium", "Sport", "Urban", "Mini"]

N_PRODUCTS = 620
N_INACTIVE = 24
N_PLANTED_PAIRS = 10
# Price band edges in cents; a line takes its product from the band below its budget.
BAND_EDGES = np.array([0, 800, 1500, 2500, 4000, 6500, 10_000, 16_000, 25_000, 10**9])
ZIPF_S = 1.0
ZIPF_OFFSET = 20.0


@dataclass
class Catalog:
    """Products and the lookup structures used to realise baskets."""

    product_id: np.ndarray  # object, e.g. "SKU00123"
    name: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    brand: np.ndarray
    price_cents: np.ndarray  # current list price
    old_price_cents: np.ndarray  # price before price_changed_at (equal to price if never changed)
    price_changed_at: np.ndarray  # epoch seconds; OBS_START when never changed
    cost_cents: np.ndarray
    is_active: np.ndarray
    discontinued_at: np.ndarray  # epoch seconds; far future for active products
    created_at: np.ndarray
    band: np.ndarray
    band_cdf: np.ndarray  # concatenated per-band popularity CDFs, offset by band number
    band_products: np.ndarray  # product index per CDF position
    substitute: np.ndarray  # active product used instead of a discontinued one
    return_rate: np.ndarray
    pair_a: np.ndarray  # planted antecedents
    pair_b: np.ndarray  # planted consequents
    pair_prob: np.ndarray  # P(B added | A in basket)

    def __len__(self) -> int:
        return len(self.product_id)


@dataclass(frozen=True)
class _Products:
    """What is sold: the products' names, classification, list prices, costs and listing dates."""

    product_id: np.ndarray
    name: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    brand: np.ndarray
    price_cents: np.ndarray
    cost_cents: np.ndarray
    created_at: np.ndarray


@dataclass(frozen=True)
class _Lifecycle:
    """Which products are discontinued when, and which had their price changed when (from which price)."""

    inactive: np.ndarray
    discontinued_at: np.ndarray
    old_price_cents: np.ndarray
    price_changed_at: np.ndarray


def build_catalog(rng: np.random.Generator) -> Catalog:
    """Draw the product catalogue, its popularity structure and the planted association pairs."""
    products = _draw_products(rng)
    n = len(products.product_id)
    # Popularity: a random rank per product and Zipf-like weight 1/(rank + offset)^s; the offset keeps the
    # best sellers at a few per cent of orders rather than a fifth.
    rank = rng.permutation(n) + 1
    weight = 1.0 / (rank.astype(float) + ZIPF_OFFSET) ** ZIPF_S
    band = np.searchsorted(BAND_EDGES, products.price_cents, side="right") - 1
    life = _draw_lifecycle(rng, products.price_cents, weight)
    band_cdf, band_products = _band_popularity(band, weight)
    return_rate = np.array(
        [
            {"Fashion": 0.18, "Electronics": 0.08, "Beauty": 0.05, "Books & Media": 0.04}.get(c, 0.075)
            for c in products.category
        ]
    )
    cat = Catalog(
        product_id=products.product_id,
        name=products.name,
        category=products.category,
        subcategory=products.subcategory,
        brand=products.brand,
        price_cents=products.price_cents,
        old_price_cents=life.old_price_cents,
        price_changed_at=life.price_changed_at,
        cost_cents=products.cost_cents,
        is_active=~life.inactive,
        discontinued_at=life.discontinued_at,
        created_at=products.created_at,
        band=band,
        band_cdf=band_cdf,
        band_products=band_products,
        substitute=_substitutes(band, life.inactive, products.subcategory, weight),
        return_rate=return_rate,
        pair_a=np.zeros(0, dtype=np.int64),
        pair_b=np.zeros(0, dtype=np.int64),
        pair_prob=np.zeros(0),
    )
    _plant_pairs(cat, rng)
    return cat


def _draw_products(rng: np.random.Generator) -> _Products:
    """``N_PRODUCTS`` products of random kinds (category, subcategory, noun), each category with five
    invented brands; log-normal list prices around the category median ending in .99, costs 40-75 % of it."""
    cats, subs, nouns, medians = [], [], [], []
    for cat, (median, subcats) in CATEGORIES.items():
        for sub, ns in subcats.items():
            for noun in ns:
                cats.append(cat)
                subs.append(sub)
                nouns.append(noun)
                medians.append(median)
    n = N_PRODUCTS
    kind = rng.integers(0, len(nouns), n)
    category = np.array(cats, dtype=object)[kind]
    subcategory = np.array(subs, dtype=object)[kind]
    brands_by_cat = {}
    for cat in CATEGORIES:
        picks = rng.choice(len(BRAND_SYLLABLES), 5, replace=False)
        ends = rng.integers(0, len(BRAND_ENDINGS), 5)
        brands_by_cat[cat] = [BRAND_SYLLABLES[i] + BRAND_ENDINGS[e] for i, e in zip(picks, ends, strict=True)]
    brand = np.array([brands_by_cat[c][rng.integers(0, 5)] for c in category], dtype=object)
    adj = rng.integers(0, len(ADJECTIVES), n)
    model = rng.integers(1, 10, n)
    name = np.array(
        [f"{b} {ADJECTIVES[a]} {nouns[k]} {m}" for b, a, k, m in zip(brand, adj, kind, model, strict=True)],
        dtype=object,
    )
    euros = np.exp(np.log(np.array(medians)[kind]) + rng.normal(0, 0.65, n))
    price = np.maximum(np.round(euros), 3).astype(np.int64) * 100 - 1
    cost = np.round(price * rng.uniform(0.40, 0.75, n)).astype(np.int64)
    return _Products(
        product_id=np.array([f"SKU{i:05d}" for i in range(1, n + 1)], dtype=object),
        name=name,
        category=category,
        subcategory=subcategory,
        brand=brand,
        price_cents=price,
        cost_cents=cost,
        created_at=OBS_START - rng.integers(30, 400, n) * DAY,
    )


def _draw_lifecycle(rng: np.random.Generator, price: np.ndarray, weight: np.ndarray) -> _Lifecycle:
    """``N_INACTIVE`` products discontinued during the history and about 6 % of the others repriced once."""
    n = len(price)
    inactive = np.zeros(n, dtype=bool)
    # Discontinued products are taken from the less popular half so that the planted pairs stay active.
    inactive[rng.choice(np.argsort(-weight)[n // 2 :], N_INACTIVE, replace=False)] = True
    discontinued = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    discontinued[inactive] = OBS_START + rng.integers(20, 140, inactive.sum()) * WEEK
    # Occasional price changes: orders before the change paid the old price.
    changed = (rng.random(n) < 0.06) & ~inactive
    old_price = price.copy()
    old_price[changed] = np.maximum(
        np.round(price[changed] * rng.uniform(0.85, 1.1, changed.sum()) / 100) * 100 - 1, 199
    ).astype(np.int64)
    changed_at = np.full(n, OBS_START, dtype=np.int64)
    changed_at[changed] = OBS_START + rng.integers(10, 150, changed.sum()) * WEEK
    return _Lifecycle(
        inactive=inactive,
        discontinued_at=discontinued,
        old_price_cents=old_price,
        price_changed_at=changed_at,
    )


def _band_popularity(band: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per price band the cumulative popularity of its products (offset by the band number, so one sorted
    array serves every band) and the product at each position."""
    band_cdf, band_products = [], []
    for bnd in range(len(BAND_EDGES) - 1):
        members = np.flatnonzero(band == bnd)
        if len(members) == 0:
            continue
        w = weight[members]
        band_cdf.append(bnd + np.cumsum(w) / w.sum())
        band_products.append(members)
    return np.concatenate(band_cdf), np.concatenate(band_products)


def _substitutes(
    band: np.ndarray, inactive: np.ndarray, subcategory: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Per product the one sold instead once it is discontinued: the most popular active product of its
    price band and subcategory (else of the nearest band); active products stand for themselves."""
    substitute = np.arange(len(band))
    for i in np.flatnonzero(inactive):
        same = np.flatnonzero((band == band[i]) & ~inactive & (subcategory == subcategory[i]))
        if len(same) == 0:
            active = np.flatnonzero(~inactive)
            gap = np.abs(band[active] - band[i])
            same = active[gap == gap.min()]
        substitute[i] = same[np.argmax(weight[same])]
    return substitute


def _plant_pairs(cat: Catalog, rng: np.random.Generator) -> None:
    """Pick antecedents among the most bought products and consequents among mid-popularity ones, as
    measured on a simulated sample of baskets."""
    values = rng.gamma(6.25, 73.0 / 6.25, 40_000)
    order_idx, product, _ = _base_lines(cat, rng, values, np.full(len(values), OBS_END))
    freq = np.bincount(np.unique(order_idx * len(cat) + product) % len(cat), minlength=len(cat))
    by_freq = np.argsort(-freq, kind="stable")
    by_freq = by_freq[cat.is_active[by_freq]]
    a = by_freq[:N_PLANTED_PAIRS]
    pool = by_freq[120:400]
    b = rng.choice(pool, N_PLANTED_PAIRS, replace=False)
    cat.pair_a = a.astype(np.int64)
    cat.pair_b = b.astype(np.int64)
    cat.pair_prob = rng.uniform(0.45, 0.75, N_PLANTED_PAIRS)


def _base_lines(
    cat: Catalog, rng: np.random.Generator, values_eur: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines (order index, product index, quantity) whose totals approximate ``values_eur`` per order."""
    n = len(values_eur)
    cents = np.maximum(values_eur * 100, 300)
    n_lines = np.minimum(1 + rng.poisson(0.25 + cents / 14_000.0), 10)
    order_idx = np.repeat(np.arange(n), n_lines)
    share = rng.gamma(2.0, 1.0, len(order_idx))
    share /= np.bincount(order_idx, weights=share, minlength=n)[order_idx]
    budget = cents[order_idx] * share
    # Aim below the budget so that the quantity (rounded) lands the total near it.
    aim = budget * rng.uniform(0.45, 1.0, len(budget))
    band = np.clip(np.searchsorted(BAND_EDGES, aim, side="right") - 1, 0, len(BAND_EDGES) - 2)
    band = np.minimum(band, round(cat.band_cdf[-1]) - 1)
    pos = np.searchsorted(cat.band_cdf, band + rng.random(len(band)), side="right")
    pos = np.minimum(pos, len(cat.band_products) - 1)
    product = cat.band_products[pos]
    line_time = times[order_idx]
    gone = line_time >= cat.discontinued_at[product]
    product = np.where(gone, cat.substitute[product], product)
    price = cat.price_cents[product]
    quantity = np.clip(np.round(budget / price), 1, 8).astype(np.int64)
    return order_idx, product, quantity


@dataclass
class Lines:
    """Order lines of a batch of orders (indices refer to the batch)."""

    order_idx: np.ndarray
    line_number: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    unit_price_cents: np.ndarray


def realise_baskets(
    cat: Catalog, rng: np.random.Generator, values_eur: np.ndarray, times: np.ndarray
) -> Lines:
    """Order lines for orders of value ``values_eur`` placed at ``times`` (epoch seconds), with the planted
    pairs applied and repeated products merged into one line."""
    order_idx, product, quantity = _base_lines(cat, rng, values_eur, times)
    has = np.zeros((len(values_eur), len(cat.pair_a)), dtype=bool)
    extra_o, extra_p = [], []
    for k, (a, b) in enumerate(zip(cat.pair_a, cat.pair_b, strict=True)):
        orders_with_a = np.unique(order_idx[product == a])
        has[orders_with_a, k] = True
        add = orders_with_a[rng.random(len(orders_with_a)) < cat.pair_prob[k]]
        extra_o.append(add)
        extra_p.append(np.full(len(add), b))
    order_idx = np.concatenate([order_idx, *extra_o])
    product = np.concatenate([product, *extra_p])
    quantity = np.concatenate([quantity, np.ones(sum(len(x) for x in extra_o), dtype=np.int64)])
    # Merge repeated products of an order into one line; line order follows first appearance.
    key = order_idx * len(cat) + product
    _uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    qty = np.bincount(inverse, weights=quantity).astype(np.int64)
    keep = np.argsort(first, kind="stable")
    first_pos = first[keep]
    o = order_idx[first_pos]
    p = product[first_pos]
    q = qty[keep]
    resort = np.lexsort((first_pos, o))
    o, p, q = o[resort], p[resort], q[resort]
    starts = np.searchsorted(o, o, side="left")
    line_number = np.arange(len(o)) - starts + 1
    t = times[o]
    unit = np.where(t < cat.price_changed_at[p], cat.old_price_cents[p], cat.price_cents[p])
    return Lines(order_idx=o, line_number=line_number, product=p, quantity=q, unit_price_cents=unit)


@dataclass
class Promotions:
    """Promotion codes with validity windows."""

    promotion_id: np.ndarray
    code: np.ndarray
    description: np.ndarray
    pct: np.ndarray
    starts_at: np.ndarray
    ends_at: np.ndarray
    use_prob: float


_PROMO_NAMES = [
    (1, "WINTER"),
    (3, "SPRING"),
    (5, "MAYDAY"),
    (6, "SUMMER"),
    (8, "HOLIDAY"),
    (9, "AUTUMN"),
    (11, "BLACKFRIDAY"),
    (12, "XMAS"),
]


def build_promotions(rng: np.random.Generator, promo_share: float) -> Promotions:
    """About 20 promotions over the history (seasonal codes each year), 5-30 % off, valid 1-5 weeks."""
    ids, codes, descs, pcts, starts, ends = [], [], [], [], [], []
    k = 0
    for year in (2023, 2024, 2025):
        picks = sorted(rng.choice(len(_PROMO_NAMES), 7, replace=False))
        if year == 2025:
            picks = picks[:6]
        for i in picks:
            month, label = _PROMO_NAMES[i]
            k += 1
            pct = int(rng.choice([5, 10, 15, 20, 25, 30]))
            day = int(rng.integers(1, 20)) if label != "BLACKFRIDAY" else 20
            start = int(np.datetime64(f"{year}-{month:02d}-{day:02d}T00:00:00", "s").astype(np.int64))
            length = int(rng.integers(7, 36)) if label != "BLACKFRIDAY" else 11
            ids.append(f"PR{k:03d}")
            codes.append(f"{label}{year % 100}")
            descs.append(f"{pct}% off the basket, {label.title()} {year}")
            pcts.append(pct)
            starts.append(start)
            ends.append(min(start + length * DAY - 1, OBS_END))
    starts_a, ends_a = np.array(starts), np.array(ends)
    covered = np.zeros((OBS_END - OBS_START) // DAY + 1, dtype=bool)
    for s, e in zip(starts_a, ends_a, strict=True):
        covered[(s - OBS_START) // DAY : (e - OBS_START) // DAY + 1] = True
    use_prob = min(0.9, promo_share / covered.mean())
    return Promotions(
        promotion_id=np.array(ids, dtype=object),
        code=np.array(codes, dtype=object),
        description=np.array(descs, dtype=object),
        pct=np.array(pcts),
        starts_at=starts_a,
        ends_at=ends_a,
        use_prob=use_prob,
    )


def pick_promotions(promos: Promotions, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """Index of the promotion used by each order (-1 for none); only codes valid at the order time."""
    valid = (times[:, None] >= promos.starts_at[None, :]) & (times[:, None] <= promos.ends_at[None, :])
    score = np.where(valid, rng.random(valid.shape), -1.0)
    best = score.argmax(axis=1)
    use = valid.any(axis=1) & (rng.random(len(times)) < promos.use_prob)
    return np.where(use, best, -1)
