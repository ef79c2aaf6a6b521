"""The simulator's vocabulary: invented names, titles and the weights of the national mix.

Every personal detail generated from these lists is invented; phones are `+974` numbers
and emails use example domains only.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    """A weighted draw of one value: `random.choices` without rebuilding weights per call."""

    def __init__(self, values: Sequence[T], weights: Sequence[float]) -> None:
        self.values = tuple(values)
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random) -> T:
        return self.values[bisect(self.cumulative, rng.random() * self.total)]


MUNICIPALITIES = (
    "doha", "al_rayyan", "al_wakrah", "umm_salal",
    "al_khor", "al_daayen", "al_shamal", "al_shahaniya",
)  # fmt: skip
# Roughly where people live: Doha and Al Rayyan dominate, the north is sparse.
MUNICIPALITY_WEIGHTS = (0.32, 0.30, 0.11, 0.05, 0.07, 0.07, 0.03, 0.05)
MUNICIPALITY = Weighted(MUNICIPALITIES, MUNICIPALITY_WEIGHTS)
MUNICIPALITY_WEIGHTS_INDEX = Weighted(range(len(MUNICIPALITIES)), MUNICIPALITY_WEIGHTS)
MUNICIPALITY_NAMES = {
    "doha": ("الدوحة", "Doha"), "al_rayyan": ("الريان", "Al Rayyan"),
    "al_wakrah": ("الوكرة", "Al Wakrah"), "umm_salal": ("أم صلال", "Umm Salal"),
    "al_khor": ("الخور", "Al Khor"), "al_daayen": ("الضعاين", "Al Daayen"),
    "al_shamal": ("الشمال", "Al Shamal"), "al_shahaniya": ("الشحانية", "Al Shahaniya"),
}  # fmt: skip

SECTORS = ("government", "private", "nonprofit", "academic", "community")
SECTOR_WEIGHTS = (0.20, 0.25, 0.30, 0.10, 0.15)
SECTOR = Weighted(SECTORS, SECTOR_WEIGHTS)
PROFILE_FIELD = Weighted(("municipality", "language", "phone", "email"), (4, 2, 2, 2))
ORG_NAMES = {
    "government": (("وزارة", "Ministry of"), ("هيئة", "Authority for")),
    "private": (("شركة", "Company"), ("مجموعة", "Group")),
    "nonprofit": (("جمعية", "Society for"), ("مؤسسة", "Foundation for")),
    "academic": (("جامعة", "University of"), ("كلية", "College of")),
    "community": (("نادي", "Club of"), ("مجلس", "Council of")),
}
ORG_TOPICS = (
    ("البيئة", "the Environment"), ("الصحة", "Health"), ("التعليم", "Education"),
    ("الرياضة", "Sport"), ("الثقافة", "Culture"), ("الشباب", "Youth"),
    ("الرعاية", "Social Care"), ("التراث", "Heritage"), ("التقنية", "Technology"),
)  # fmt: skip

CAMPAIGN_THEMES = (
    ("تنظيف الشواطئ", "Beach clean-up"), ("التبرع بالدم", "Blood drive"),
    ("زراعة الأشجار", "Tree planting"), ("دعم كبار السن", "Elderly support"),
    ("محو الأمية الرقمية", "Digital literacy"), ("إفطار صائم", "Ramadan iftar"),
    ("الفعاليات الرياضية", "Sports events"), ("حماية البيئة البحرية", "Marine protection"),
    ("بنك الطعام", "Food bank"), ("القراءة للأطفال", "Reading to children"),
)  # fmt: skip
SHIFTS = (("صباحية", "morning shift"), ("مسائية", "afternoon shift"), ("ميدانية", "field day"))
CAPACITIES = (10, 15, 20, 25, 30, 40, 50, 80)
MIN_AGES = (14, 14, 14, 14, 14, 16, 16, 16, 18, 18)  # half open to 14-year-olds

# Age bands drawn first (skewed to young adults), then an age uniformly inside the band.
AGE_RANGES = ((14, 17), (18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 75))
AGE_RANGE = Weighted(AGE_RANGES, (0.10, 0.30, 0.27, 0.16, 0.09, 0.05, 0.03))
QATARI_SHARE = 0.13

MALE_GIVEN = (
    "Mohammed", "Ahmed", "Abdullah", "Khalid", "Hamad", "Ali", "Youssef", "Omar",
    "Tamim", "Jassim", "Rashid", "Faisal", "Rahul", "Arjun", "John", "David", "Jose",
    "Mark", "Imran", "Bilal",
)  # fmt: skip
FEMALE_GIVEN = (
    "Fatima", "Maryam", "Aisha", "Noora", "Hessa", "Moza", "Sara", "Latifa", "Reem",
    "Aljazi", "Dana", "Layla", "Priya", "Anjali", "Maria", "Grace", "Emily", "Ayesha",
    "Zainab", "Hana",
)  # fmt: skip
QATARI_FAMILY = (
    "Al-Thani", "Al-Kuwari", "Al-Marri", "Al-Sulaiti", "Al-Mohannadi", "Al-Naimi",
    "Al-Kaabi", "Al-Hajri", "Al-Emadi", "Al-Misnad",
)  # fmt: skip
RESIDENT_FAMILY = (
    "Khan", "Nair", "Sharma", "Santos", "Reyes", "Haddad", "Mansour", "Smith", "Brown",
    "Hassan", "Ibrahim", "Fernandes", "Perera", "Rahman", "Saleh", "Okafor",
)  # fmt: skip
EMAIL_DOMAINS = ("example.qa", "example.com", "example.org", "example.net")
PHONE_PREFIXES = ("3", "5", "6", "7")

CHECK_IN_METHODS = ("qr", "kiosk", "manual", "geofence")
CHECK_IN_METHOD = Weighted(CHECK_IN_METHODS, (0.50, 0.20, 0.15, 0.15))
SUSPENSION_REASONS = ("Partner agreement expired", "Compliance review pending")
CANCEL_REASONS = ("Weather warning", "Venue unavailable", "Too few sign-ups")
