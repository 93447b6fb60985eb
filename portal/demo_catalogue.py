"""The demo catalogue loaded by `manage.py loaddemo`: realistic plans and prices."""

EUROPE = ("AT BE BG HR CY CZ DK EE FI FR DE GR HU IS IE IT LV LI LT LU MT NL NO PL PT RO SK "
          "SI ES SE CH GB AL BA ME RS").split()
ASIA_PACIFIC = "JP KR CN HK MO TW SG MY TH VN ID PH KH LA AU NZ IN LK".split()
NORTH_AMERICA = "US CA MX".split()
GLOBAL = sorted(set(EUROPE + ASIA_PACIFIC + NORTH_AMERICA
                    + "BR AR CL CO PE ZA EG MA KE TR AE SA QA IL JO".split()))

REGIONS = {
    "JP": ("Japan", "日本"), "US": ("United States", "美国"), "GB": ("United Kingdom", "英国"),
    "FR": ("France", "法国"), "TH": ("Thailand", "泰国"), "CN": ("China mainland", "中国大陆"),
}

# code, name (en, zh), scope, countries, coverage (en, zh), days, kind, MB or None,
# voice minutes, SMS, prices (USD cents, EUR cents, CNY fen)
PLANS = [
    ("jp-1gb-1d", ("Japan Day Pass 1 GB", "日本一日通 1 GB"), "country", ["JP"], None,
     1, "day", 1024, None, None, (300, 280, 2100)),
    ("jp-3gb-7d", ("Japan 3 GB for a week", "日本 3 GB 一周"), "country", ["JP"], None,
     7, "week", 3 * 1024, None, None, (800, 750, 5800)),
    ("jp-10gb-30d", ("Japan 10 GB for a month", "日本 10 GB 一个月"), "country", ["JP"], None,
     30, "month", 10 * 1024, None, None, (1800, 1700, 12800)),
    ("us-5gb-7d", ("USA 5 GB for a week", "美国 5 GB 一周"), "country", ["US"], None,
     7, "week", 5 * 1024, None, None, (1100, 1000, 7800)),
    ("us-unlimited-30d", ("USA Unlimited for a month", "美国无限流量 一个月"), "country", ["US"],
     None, 30, "month", None, 200, 100, (4900, 4500, 35000)),
    ("gb-3gb-7d", ("UK 3 GB for a week", "英国 3 GB 一周"), "country", ["GB"], None,
     7, "week", 3 * 1024, None, None, (700, 650, 5000)),
    ("fr-2gb-1d", ("France Day Pass 2 GB", "法国一日通 2 GB"), "country", ["FR"], None,
     1, "day", 2 * 1024, None, None, (400, 370, 2800)),
    ("th-unlimited-1d", ("Thailand Unlimited Day Pass", "泰国无限流量一日通"), "country", ["TH"],
     None, 1, "day", None, None, None, (500, 460, 3500)),
    ("cn-5gb-30d", ("China mainland 5 GB for a month", "中国大陆 5 GB 一个月"), "country",
     ["CN"], None, 30, "month", 5 * 1024, None, None, (1500, 1400, 9900)),
    ("eu-1gb-1d", ("Europe Day Pass 1 GB", "欧洲一日通 1 GB"), "region", EUROPE,
     ("Europe", "欧洲"), 1, "day", 1024, None, None, (400, 370, 2800)),
    ("eu-5gb-7d", ("Europe 5 GB for a week", "欧洲 5 GB 一周"), "region", EUROPE,
     ("Europe", "欧洲"), 7, "week", 5 * 1024, None, None, (1300, 1200, 9200)),
    ("eu-20gb-30d", ("Europe 20 GB + calls for a month", "欧洲 20 GB 含通话 一个月"), "region",
     EUROPE, ("Europe", "欧洲"), 30, "month", 20 * 1024, 100, 50, (2900, 2700, 20800)),
    ("eu-50gb-90d", ("Europe 50 GB for a quarter", "欧洲 50 GB 一个季度"), "region", EUROPE,
     ("Europe", "欧洲"), 90, "quarter", 50 * 1024, None, None, (5900, 5500, 42000)),
    ("eu-100gb-365d", ("Europe 100 GB for a year", "欧洲 100 GB 一年"), "region", EUROPE,
     ("Europe", "欧洲"), 365, "year", 100 * 1024, None, None, (12900, 11900, 92000)),
    ("apac-3gb-7d", ("Asia-Pacific 3 GB for a week", "亚太 3 GB 一周"), "region", ASIA_PACIFIC,
     ("Asia-Pacific", "亚太地区"), 7, "week", 3 * 1024, None, None, (1200, 1100, 8500)),
    ("apac-10gb-30d", ("Asia-Pacific 10 GB for a month", "亚太 10 GB 一个月"), "region",
     ASIA_PACIFIC, ("Asia-Pacific", "亚太地区"), 30, "month", 10 * 1024, None, None,
     (2600, 2400, 18500)),
    ("apac-30gb-90d", ("Asia-Pacific 30 GB for a quarter", "亚太 30 GB 一个季度"), "region",
     ASIA_PACIFIC, ("Asia-Pacific", "亚太地区"), 90, "quarter", 30 * 1024, None, None,
     (5400, 5000, 38500)),
    ("na-10gb-30d", ("North America 10 GB for a month", "北美 10 GB 一个月"), "region",
     NORTH_AMERICA, ("North America", "北美"), 30, "month", 10 * 1024, None, None,
     (2500, 2300, 17800)),
    ("global-3gb-30d", ("Global 3 GB for a month", "全球 3 GB 一个月"), "global", GLOBAL,
     ("Global", "全球"), 30, "month", 3 * 1024, None, None, (2400, 2200, 17000)),
    ("global-10gb-90d", ("Global 10 GB for a quarter", "全球 10 GB 一个季度"), "global", GLOBAL,
     ("Global", "全球"), 90, "quarter", 10 * 1024, None, None, (6500, 6000, 46000)),
    ("global-unlimited-365d", ("Global Unlimited for a year", "全球无限流量 一年"), "global",
     GLOBAL, ("Global", "全球"), 365, "year", None, 500, 300, (39900, 36900, 285000)),
]

FAIR_USE = ("Fair use: after 5 GB a day, speed is reduced to 1 Mbit/s until midnight.",
            "合理使用：每天超过 5 GB 后，网速降至 1 Mbit/s，直到午夜。")
