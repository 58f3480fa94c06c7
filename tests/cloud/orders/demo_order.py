"""A demo catalogue's SKU and a recipient the order tests build their orders from."""

from __future__ import annotations

#: A SKU of the demo seller (``cloud.seed.seed_demo``).
CASE = "迪沃 IPHONE6 PLUS 鸟语花香系列保护壳-花香金"

RECIPIENT = {
    "name": "王五",
    "phone": "13900000009",
    "province": "北京市",
    "city": "北京市",
    "district": "朝阳区",
    "address": "建国路 1 号",
}
