"""Generator of the bundled sample register of Xiamen (示例数据): synthetic nurseries whose 普惠 counts and
places per district match the published 2022 figures; run `python -m bot.directory.sample` to rewrite it."""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bot.directory import credit_code
from bot.directory.categories import LegalForm, ServiceType
from bot.directory.csv_io import write_institutions
from bot.directory.records import InstitutionRecord

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "sample_institutions_xiamen.csv"
SAMPLE_MARK = "（示例）"
SEED = 20221231
JITTER_M = 600.0


@dataclass(frozen=True, slots=True)
class District:
    """A district of Xiamen with its 普惠 figures (seed 000: 55 nurseries, 4,352 places, end of 2022)."""

    name: str
    division: str  # 行政区划代码
    inclusive_count: int
    inclusive_places: int
    other_count: int
    # Known places (WGS-84, rounded) the synthetic nurseries are scattered around, each with the area's
    # name for the made-up address.
    anchors: tuple[tuple[str, float, float], ...]


DISTRICTS: tuple[District, ...] = (
    District(
        "思明区",
        "350203",
        8,
        750,
        6,
        (
            ("中山路", 24.4560, 118.0860),
            ("厦港", 24.4440, 118.0960),
            ("莲坂", 24.4840, 118.1240),
            ("前埔", 24.4760, 118.1760),
            ("莲前", 24.4730, 118.1480),
        ),
    ),
    District(
        "湖里区",
        "350206",
        13,
        832,
        6,
        (
            ("江头", 24.5010, 118.1380),
            ("殿前", 24.5300, 118.1000),
            ("禾山", 24.5150, 118.1600),
            ("金山", 24.5050, 118.1700),
            ("湖里", 24.5100, 118.1050),
        ),
    ),
    District(
        "海沧区",
        "350205",
        3,
        300,
        2,
        (
            ("海沧湾", 24.4850, 118.0350),
            ("新阳", 24.5280, 118.0450),
            ("东孚", 24.5700, 117.9750),
        ),
    ),
    District(
        "集美区",
        "350211",
        8,
        755,
        4,
        (
            ("集美学村", 24.5800, 118.0980),
            ("杏林", 24.5600, 118.0450),
            ("集美新城", 24.6150, 118.0650),
            ("灌口", 24.6000, 117.9950),
        ),
    ),
    District(
        "同安区",
        "350212",
        10,
        885,
        3,
        (
            ("大同", 24.7300, 118.1550),
            ("祥平", 24.7150, 118.1300),
            ("西柯", 24.6700, 118.1550),
            ("五显", 24.7900, 118.1200),
        ),
    ),
    District(
        "翔安区",
        "350213",
        13,
        830,
        4,
        (
            ("新店", 24.6200, 118.2400),
            ("马巷", 24.6600, 118.2450),
            ("内厝", 24.6900, 118.2900),
            ("新圩", 24.7450, 118.2650),
        ),
    ),
)

_NAME_WORDS = (
    "小树苗",
    "彩虹",
    "向日葵",
    "星星",
    "小海豚",
    "白鹭",
    "凤凰花",
    "三角梅",
    "蒲公英",
    "小橡树",
    "贝壳",
    "童心",
    "暖阳",
    "摇篮",
    "小蜜蜂",
    "萌芽",
    "布谷鸟",
    "月亮船",
    "小脚丫",
    "七彩",
    "春芽",
    "晨曦",
    "小白鸽",
    "知更鸟",
    "榕树",
    "海风",
    "小帆船",
    "棉花糖",
    "小星球",
    "阳光",
    "小叶子",
    "苗苗",
    "芽芽",
    "小象",
    "海鸥",
    "橄榄",
    "青青草",
    "童趣",
    "小云朵",
    "启航",
    "鹭岛",
    "花园",
    "小灯塔",
    "绿洲",
    "稻草人",
    "小松果",
    "彩虹桥",
    "蓝鲸",
    "红树林",
    "小书包",
    "好奇",
    "满天星",
    "小葵花",
    "竹笋",
    "嫩芽",
    "萤火虫",
    "小石榴",
    "浪花",
    "小太阳",
    "龙眼树",
    "日光岩",
    "小鹿",
    "暖暖",
    "小熊",
    "乐乐",
    "丁丁",
    "甜橙",
    "柠檬",
    "小番茄",
    "小蓝帆",
    "糖果",
    "木棉",
    "桂花",
    "鹭鸣",
    "金色",
    "方舟",
    "小鲸鱼",
    "海贝",
    "雏菊",
    "松鼠",
    "珊瑚",
    "海星",
    "晴天",
    "彩云",
)

# 普惠 places come from organisations the commission contracts with; home-based points stay small.
_INCLUSIVE_FORMS = (
    (LegalForm.ENTERPRISE, 5),
    (LegalForm.PRIVATE_NON_ENTERPRISE, 4),
    (LegalForm.PUBLIC_INSTITUTION, 2),
    (LegalForm.KINDERGARTEN_CLASS, 3),
    (LegalForm.EMPLOYER, 1),
)
_OTHER_FORMS = (
    (LegalForm.ENTERPRISE, 6),
    (LegalForm.HOME_BASED, 3),
    (LegalForm.PRIVATE_NON_ENTERPRISE, 2),
    (LegalForm.INDIVIDUAL_BUSINESS, 1),
)
_KIND_PREFIX = {
    LegalForm.ENTERPRISE: "91",
    LegalForm.PRIVATE_NON_ENTERPRISE: "52",
    LegalForm.PUBLIC_INSTITUTION: "12",
    LegalForm.KINDERGARTEN_CLASS: "52",
    LegalForm.EMPLOYER: "91",
    LegalForm.HOME_BASED: "92",
    LegalForm.INDIVIDUAL_BUSINESS: "92",
}
_SUFFIX = {
    LegalForm.ENTERPRISE: ("托育园", "托育中心", "婴幼儿照护中心"),
    LegalForm.PRIVATE_NON_ENTERPRISE: ("托育园", "托育服务中心"),
    LegalForm.PUBLIC_INSTITUTION: ("公办托育园", "托育综合服务中心"),
    LegalForm.KINDERGARTEN_CLASS: ("幼儿园（托班）",),
    LegalForm.EMPLOYER: ("职工托育园",),
    LegalForm.HOME_BASED: ("家庭托育点",),
    LegalForm.INDIVIDUAL_BUSINESS: ("托育室",),
}


def _pick_form(rng: random.Random, weights: tuple[tuple[LegalForm, int], ...]) -> LegalForm:
    forms, w = zip(*weights, strict=True)
    return rng.choices(forms, weights=w)[0]


def _authority(district: District, form: LegalForm) -> str:
    if form in (LegalForm.PRIVATE_NON_ENTERPRISE, LegalForm.KINDERGARTEN_CLASS):
        return f"厦门市{district.name}民政局"
    if form is LegalForm.PUBLIC_INSTITUTION:
        return f"中共厦门市{district.name}委机构编制委员会办公室"
    return f"厦门市{district.name}市场监督管理局"


def _split_total(rng: random.Random, total: int, parts: int, low: int, high: int) -> list[int]:
    """`parts` integers in [low, high] adding up to `total` (which must fit)."""
    if not parts * low <= total <= parts * high:
        raise ValueError(f"cannot split {total} into {parts} parts of {low}-{high}")
    sizes = [low] * parts
    left = total - low * parts
    while left:
        i = rng.randrange(parts)
        step = min(left, high - sizes[i], rng.randint(1, 10))
        sizes[i] += step
        left -= step
    return sizes


def _split_classes(rng: random.Random, total: int, form: LegalForm) -> dict[str, int]:
    """Capacities per class adding up to `total`, shaped like real nurseries: few infants, more 2-year-olds."""
    if form is LegalForm.HOME_BASED:
        toddler = rng.randint(1, total - 1)
        return {"infant": 0, "toddler": toddler, "older": total - toddler, "mixed": 0}
    infant = rng.choice((0, 0, 0, 6, 8, 10)) if total >= 40 else 0
    mixed = rng.choice((0, 0, 0, 12, 18)) if total - infant >= 50 else 0
    rest = total - infant - mixed
    if form is LegalForm.KINDERGARTEN_CLASS:
        # A kindergarten's nursery class mostly takes 2-year-olds just below kindergarten age.
        toddler = round(rest * rng.uniform(0.0, 0.3))
    else:
        toddler = round(rest * rng.uniform(0.3, 0.5))
    return {"infant": infant, "toddler": toddler, "older": rest - toddler, "mixed": mixed}


def _free(rng: random.Random, capacity: int) -> int | None:
    if capacity == 0:
        return None
    if rng.random() < 0.35:
        return 0
    return min(capacity, rng.randint(0, max(1, capacity // 5)))


def _services(rng: random.Random, form: LegalForm) -> frozenset[ServiceType]:
    chosen = {ServiceType.FULL_DAY}
    if form is LegalForm.HOME_BASED:
        chosen = {ServiceType.FULL_DAY, ServiceType.HOURLY} if rng.random() < 0.5 else {ServiceType.HALF_DAY}
    if rng.random() < 0.45:
        chosen.add(ServiceType.HALF_DAY)
    if rng.random() < 0.3:
        chosen.add(ServiceType.HOURLY)
    if rng.random() < 0.25:
        chosen.add(ServiceType.TEMPORARY)
    return frozenset(chosen)


def _fees(rng: random.Random, inclusive: bool, form: LegalForm) -> tuple[int, int]:
    if inclusive:
        low = 1200 if form is LegalForm.PUBLIC_INSTITUTION else 1800
        fee_min = rng.randrange(low, low + 1000, 100)
        return fee_min, fee_min + rng.randrange(0, 900, 100)
    fee_min = rng.randrange(3000, 5500, 100)
    return fee_min, fee_min + rng.randrange(300, 2500, 100)


def _jitter(rng: random.Random, lat: float, lon: float, max_m: float) -> tuple[float, float]:
    """A point uniformly within `max_m` of an anchor, rounded to ~1 m as a register would give it."""
    r = max_m * math.sqrt(rng.random())
    theta = rng.uniform(0, 2 * math.pi)
    dlat = r * math.cos(theta) / 111_195.0
    dlon = r * math.sin(theta) / (111_195.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def generate(seed: int = SEED) -> list[InstitutionRecord]:
    """The sample register, the same for the same seed."""
    rng = random.Random(seed)
    words = list(_NAME_WORDS)
    rng.shuffle(words)
    used_codes: set[str] = set()
    records: list[InstitutionRecord] = []
    for district in DISTRICTS:
        sizes = _split_total(rng, district.inclusive_places, district.inclusive_count, 40, 150)
        plan = [(True, s) for s in sizes] + [(False, 0)] * district.other_count
        for n, (inclusive, size) in enumerate(plan):
            form = _pick_form(rng, _INCLUSIVE_FORMS if inclusive else _OTHER_FORMS)
            if not inclusive:
                size = 5 if form is LegalForm.HOME_BASED else rng.randrange(20, 95, 5)
            word = words.pop()
            area, a_lat, a_lon = district.anchors[n % len(district.anchors)]
            lat, lon = _jitter(rng, a_lat, a_lon, JITTER_M)
            code = credit_code.generate(_KIND_PREFIX[form], district.division, rng)
            while code in used_codes:
                code = credit_code.generate(_KIND_PREFIX[form], district.division, rng)
            used_codes.add(code)
            caps = _split_classes(rng, size, form)
            registered = date(2018, 1, 1) + timedelta(days=rng.randrange(0, 5 * 365))
            # 普惠 status is granted to filed nurseries only; about two in three of the rest have filed.
            filed = inclusive or rng.random() < 0.65
            fee_min, fee_max = _fees(rng, inclusive, form)
            record = InstitutionRecord(
                name=f"{word}{rng.choice(_SUFFIX[form])}{SAMPLE_MARK}",
                credit_code=code,
                lat=lat,
                lon=lon,
                district=district.name,
                address=f"厦门市{district.name}{area}片区示例路{rng.randint(1, 300)}号（示例地址）",
                inclusive=inclusive,
                legal_form=form,
                infant_capacity=caps["infant"],
                infant_free=_free(rng, caps["infant"]),
                toddler_capacity=caps["toddler"],
                toddler_free=_free(rng, caps["toddler"]),
                older_capacity=caps["older"],
                older_free=_free(rng, caps["older"]),
                mixed_capacity=caps["mixed"],
                mixed_free=_free(rng, caps["mixed"]),
                services=_services(rng, form),
                fee_min=fee_min,
                fee_max=fee_max,
                # 0592-000xxxx: Xiamen's area code with an exchange no real number uses.
                phone=f"0592-000{rng.randint(0, 9999):04d}",
                registered_on=registered,
                registration_authority=_authority(district, form),
                filed_on=registered + timedelta(days=rng.randrange(20, 300)) if filed else None,
                is_sample=True,
            )
            records.append(record)
    return records


def write(path: Path = SAMPLE_PATH, seed: int = SEED) -> int:
    """Write the sample register with Chinese headers, UTF-8 with BOM so spreadsheets open it as is."""
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        return write_institutions(out, generate(seed), chinese=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    count = write(args.out, args.seed)
    print(f"wrote {count} sample institutions to {args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
