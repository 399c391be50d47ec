"""Fixed parameters and reference data of the demo generator (time frame, model parameters, geography, names).

Model parameter defaults come from the papers the models are taken from:

- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)):
  alpha = 4.414, a = 0.793, b = 2.426 as estimated on the CDNOW sample (time in weeks), with the shape r
  raised from CDNOW's 0.243 to 0.4: a mean of about 4 orders per buyer instead of 3. With CDNOW's r even the
  true parameters separate the alive from the dropped-out repeat buyers with an AUC of only 0.835 on this
  data, so no model could be shown to reach 0.85; with r = 0.4 they reach about 0.87.
- Gamma-Gamma spend (Fader, Hardie & Lee 2005, "RFM and CLV", JMR 42(4)): p = 6.25, q = 3.74 from the same
  paper; the rate gamma is set to 32 so that the mean order value p * gamma / (q - 1) is about 73 EUR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OBS_START = int(np.datetime64("2023-01-01T00:00:00", "s").astype(np.int64))
OBS_END = int(np.datetime64("2025-12-31T23:59:59", "s").astype(np.int64))
OBS_START_ISO = "2023-01-01T00:00:00Z"
OBS_END_ISO = "2025-12-31T23:59:59Z"
DAY = 86_400
WEEK = 7 * DAY
HISTORY_WEEKS = (OBS_END - OBS_START) / WEEK
# Acquisitions (first purchases) happen until this share of the history, so late joiners still have a
# few months of observed behaviour.
ACQUISITION_SHARE = 0.92
CURRENCY = "EUR"


@dataclass(frozen=True)
class ModelParams:
    """True parameters of the purchase and spend processes (time unit: week)."""

    r: float = 0.4
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426
    gg_p: float = 6.25
    gg_q: float = 3.74
    gg_v: float = 32.0


# Share of buyers with a shop account; share of account holders' orders placed as guest anyway.
ACCOUNT_SHARE = 0.70
ACCOUNT_GUEST_ORDER_SHARE = 0.05
# Share of buyers with a CRM record; CRM-only non-buyers (leads) per buyer; CRM persons entered twice.
CRM_BUYER_SHARE = 0.85
CRM_LEADS_PER_BUYER = 0.15
CRM_DUPLICATE_SHARE = 0.05
CRM_PLACEHOLDER_SHARE = 0.002
CRM_HOUSEHOLD_SHARE = 0.003
# Non-buying web visitors per buyer.
VISITORS_PER_BUYER = 1.0
PROMO_ORDER_SHARE = 0.15
FREE_SHIPPING_FROM_CENTS = 4_900
SHIPPING_CENTS = 495
RETURN_WINDOW_DAYS = 30

# Rates of deliberately bad noise rows, per good row of the entity.
BAD_RATES = {
    "orders_duplicate": 0.002,
    "orders_bad_date": 0.0015,
    "lines_bad_quantity": 0.0025,
    "lines_orphan": 0.001,
    "crm_bad_email": 0.005,
    "events_duplicate": 0.005,
}
LEGACY_RETURNS_ROWS = 40

# country, weight, phone country code, national trunk prefix, mobile prefixes, e-mail domains,
# {region: [cities]}.
COUNTRIES: list[tuple[str, float, str, str, list[str], list[str], dict[str, list[str]]]] = [
    (
        "DE",
        0.34,
        "49",
        "0",
        ["151", "160", "170", "176", "152"],
        ["gmail.com", "web.de", "gmx.de", "t-online.de"],
        {
            "Bayern": ["München", "Nürnberg", "Augsburg"],
            "Berlin": ["Berlin"],
            "Hamburg": ["Hamburg"],
            "Nordrhein-Westfalen": ["Köln", "Düsseldorf", "Dortmund"],
            "Hessen": ["Frankfurt am Main", "Wiesbaden"],
            "Baden-Württemberg": ["Stuttgart", "Karlsruhe", "Freiburg"],
        },
    ),
    (
        "FR",
        0.12,
        "33",
        "0",
        ["61", "62", "66", "77"],
        ["gmail.com", "orange.fr", "free.fr", "laposte.net"],
        {
            "Île-de-France": ["Paris", "Versailles"],
            "Auvergne-Rhône-Alpes": ["Lyon", "Grenoble"],
            "Provence-Alpes-Côte d'Azur": ["Marseille", "Nice"],
            "Occitanie": ["Toulouse", "Montpellier"],
        },
    ),
    (
        "NL",
        0.08,
        "31",
        "0",
        ["61", "62", "64", "65"],
        ["gmail.com", "ziggo.nl", "kpnmail.nl"],
        {
            "Noord-Holland": ["Amsterdam", "Haarlem"],
            "Zuid-Holland": ["Rotterdam", "Den Haag", "Leiden"],
            "Utrecht": ["Utrecht"],
        },
    ),
    (
        "GB",
        0.10,
        "44",
        "0",
        ["770", "791", "745"],
        ["gmail.com", "outlook.com", "btinternet.com"],
        {
            "England": ["London", "Manchester", "Birmingham", "Leeds"],
            "Scotland": ["Edinburgh", "Glasgow"],
            "Wales": ["Cardiff"],
        },
    ),
    (
        "ES",
        0.07,
        "34",
        "",
        ["61", "65", "69", "72"],
        ["gmail.com", "hotmail.es", "yahoo.es"],
        {
            "Madrid": ["Madrid"],
            "Cataluña": ["Barcelona", "Girona"],
            "Andalucía": ["Sevilla", "Málaga"],
            "Comunidad Valenciana": ["Valencia", "Alicante"],
        },
    ),
    (
        "IT",
        0.07,
        "39",
        "",
        ["320", "333", "347", "391"],
        ["gmail.com", "libero.it", "virgilio.it"],
        {
            "Lombardia": ["Milano", "Bergamo"],
            "Lazio": ["Roma"],
            "Piemonte": ["Torino"],
            "Campania": ["Napoli"],
            "Toscana": ["Firenze", "Pisa"],
        },
    ),
    (
        "US",
        0.08,
        "1",
        "",
        ["212", "415", "312", "206"],
        ["gmail.com", "yahoo.com", "outlook.com"],
        {
            "New York": ["New York", "Buffalo"],
            "California": ["San Francisco", "Los Angeles"],
            "Illinois": ["Chicago"],
            "Washington": ["Seattle"],
        },
    ),
    (
        "AT",
        0.06,
        "43",
        "0",
        ["664", "676", "699"],
        ["gmail.com", "gmx.at", "aon.at"],
        {"Wien": ["Wien"], "Steiermark": ["Graz"], "Oberösterreich": ["Linz"], "Salzburg": ["Salzburg"]},
    ),
    (
        "CH",
        0.04,
        "41",
        "0",
        ["76", "78", "79"],
        ["gmail.com", "bluewin.ch", "gmx.ch"],
        {
            "Zürich": ["Zürich", "Winterthur"],
            "Bern": ["Bern"],
            "Genève": ["Genève"],
            "Basel-Stadt": ["Basel"],
        },
    ),
    (
        "BE",
        0.04,
        "32",
        "0",
        ["47", "48", "49"],
        ["gmail.com", "skynet.be", "telenet.be"],
        {"Brussels": ["Bruxelles"], "Flanders": ["Antwerpen", "Gent"], "Wallonia": ["Liège", "Namur"]},
    ),
]

_DE_FIRST = [
    "Anna",
    "Lena",
    "Julia",
    "Sophie",
    "Laura",
    "Katharina",
    "Sabine",
    "Petra",
    "Jürgen",
    "Lukas",
    "Jonas",
    "Felix",
    "Maximilian",
    "Thomas",
    "Michael",
    "Stefan",
    "Andreas",
    "Monika",
    "Uwe",
    "Jörg",
]
_DE_LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Braun",
    "Zimmermann",
]
_FR_FIRST = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Hugo",
    "Lucas",
    "Louis",
    "Théo",
    "Nathan",
    "François",
    "Élodie",
    "Julien",
    "Nicolas",
    "Céline",
    "Sébastien",
]
_FR_LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "Fournier",
]
_NL_FIRST = [
    "Daan",
    "Sem",
    "Lucas",
    "Emma",
    "Julia",
    "Sophie",
    "Tess",
    "Bram",
    "Thijs",
    "Sanne",
    "Femke",
    "Joost",
    "Maarten",
    "Eva",
]
_NL_LAST = [
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "Bos",
    "Vos",
]
_GB_FIRST = [
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Amelia",
    "Olivia",
    "Isla",
    "Emily",
    "Sophie",
    "James",
    "William",
    "Charlotte",
    "Jessica",
    "Thomas",
    "Daniel",
    "Hannah",
]
_GB_LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
]
_ES_FIRST = [
    "Lucía",
    "María",
    "Paula",
    "Sofía",
    "Martina",
    "Hugo",
    "Pablo",
    "Alejandro",
    "Daniel",
    "Javier",
    "Carmen",
    "José",
    "Álvaro",
    "Elena",
]
_ES_LAST = [
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
]
_IT_FIRST = [
    "Giulia",
    "Sofia",
    "Aurora",
    "Alice",
    "Ginevra",
    "Leonardo",
    "Francesco",
    "Alessandro",
    "Lorenzo",
    "Matteo",
    "Chiara",
    "Marco",
    "Luca",
    "Federica",
]
_IT_LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
]
_US_FIRST = [
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Ava",
    "Mia",
    "Ethan",
    "Mason",
    "Logan",
    "Harper",
    "Ella",
    "Benjamin",
    "Emily",
    "Michael",
    "Sarah",
    "David",
]
_US_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "Clark",
]

# First and last names per country (same order as COUNTRIES).
NAMES: dict[str, tuple[list[str], list[str]]] = {
    "DE": (_DE_FIRST, _DE_LAST),
    "AT": (_DE_FIRST, _DE_LAST),
    "CH": (_DE_FIRST + _FR_FIRST, _DE_LAST),
    "FR": (_FR_FIRST, _FR_LAST),
    "BE": (_NL_FIRST + _FR_FIRST, _NL_LAST + _FR_LAST),
    "NL": (_NL_FIRST, _NL_LAST),
    "GB": (_GB_FIRST, _GB_LAST),
    "ES": (_ES_FIRST, _ES_LAST),
    "IT": (_IT_FIRST, _IT_LAST),
    "US": (_US_FIRST, _US_LAST),
}

ACQUISITION_CHANNELS = [
    "organic_search",
    "paid_search",
    "social",
    "email",
    "referral",
    "direct",
    "affiliate",
    "display",
]
ACQUISITION_WEIGHTS = [0.25, 0.20, 0.14, 0.05, 0.10, 0.16, 0.05, 0.05]

# (utm_source, utm_medium, utm_campaign) of sessions not coming from a tracked campaign, with weights.
TRAFFIC_SOURCES: list[tuple[str | None, str | None, str | None, float]] = [
    (None, None, None, 0.34),
    ("google", "organic", None, 0.24),
    ("google", "cpc", "brand_search", 0.10),
    ("google", "cpc", "generic_search", 0.05),
    ("bing", "cpc", "generic_search", 0.03),
    ("facebook", "social", None, 0.07),
    ("instagram", "paid_social", "always_on_social", 0.05),
    ("newsletter", "email", "weekly_newsletter", 0.06),
    ("partner", "affiliate", "affiliate_network", 0.04),
    ("pricecompare", "referral", None, 0.02),
]

SEARCH_TERMS = [
    "headphones",
    "usb c cable",
    "coffee",
    "running shoes",
    "yoga mat",
    "rain jacket",
    "lego",
    "puzzle 1000",
    "cookbook",
    "garden hose",
    "dog toy",
    "cat food",
    "notebook a5",
    "fountain pen",
    "face cream",
    "shampoo",
    "perfume",
    "tent",
    "bike light",
    "speaker",
    "frying pan",
    "mug",
    "t-shirt",
    "sneakers",
    "gift",
    "sale",
    "board game",
    "plant pot",
    "desk lamp",
    "backpack",
]
LANDING_PAGES = ["/", "/sale", "/new", "/search", "/account"]

RETURN_REASONS = ["damaged", "wrong_size", "not_as_described", "changed_mind", "late_delivery", "other"]
TICKET_CATEGORIES = ["delivery", "returns", "payment", "product", "account", "other"]
TICKET_CATEGORY_WEIGHTS = [0.32, 0.22, 0.12, 0.18, 0.08, 0.08]
CONTACT_CHANNELS = ["email", "chat", "phone", "social"]
TICKET_CHANNEL_WEIGHTS = [0.42, 0.25, 0.23, 0.10]
# Median resolution time in hours per ticket channel (chat and phone are answered live).
TICKET_MEDIAN_HOURS = {"email": 20.0, "chat": 0.6, "phone": 1.5, "social": 8.0}
CONTACT_TOPICS = {
    "inbound": [
        "order status",
        "delivery question",
        "return request",
        "invoice copy",
        "product question",
        "change of address",
        "payment problem",
        "complaint",
    ],
    "outbound": [
        "follow-up on ticket",
        "satisfaction survey",
        "win-back call",
        "delivery delay notice",
        "loyalty programme invitation",
        "review request",
    ],
}

PLACEHOLDER_EMAILS = ["test@test.com", "noemail@example.com", "none@none.com"]
PLACEHOLDER_PHONES = ["0000000000", "0123456789"]
