"""The pure label renderer (protocol/devices/zpl_image.py): font choice from a list the
caller made, and a label that always draws (a field that fails is a box and a problem)."""

from __future__ import annotations

from PIL import ImageFont

from protocol.devices import zpl, zpl_image
from protocol.devices.zpl_image import AnyFont

LABEL = zpl.ShippingLabel(
    waybill="SF1234567890",
    carrier="SF",
    order_id="JY1",
    weight_g=512,
    recipient_name="张三",
    recipient_phone="13800000001",
    province="湖南省",
    city="长沙市",
    district="岳麓区",
    address="麓山南路2号",
)


def test_rank_fonts_prefers_cjk_then_plain_then_any() -> None:
    files = ["/f/DejaVuSans.ttf", "/f/wqy-microhei.ttc", "/f/Other.ttf"]
    assert zpl_image.rank_fonts(files) == ("/f/wqy-microhei.ttc", True)
    assert zpl_image.rank_fonts(files[::2]) == ("/f/DejaVuSans.ttf", False)
    assert zpl_image.rank_fonts(["/f/Other.ttf"]) == ("/f/Other.ttf", False)
    assert zpl_image.rank_fonts([]) == (None, False)


def test_a_label_draws_at_its_size_and_a_failing_field_is_reported() -> None:
    (layout,) = zpl_image.layouts(zpl.build_label(LABEL))

    def font(size: int) -> AnyFont:
        return ImageFont.load_default(size)

    img = zpl_image.render_layout(layout, font)
    assert img.size == (800, 1200) and img.getextrema() == (0, 255)

    def broken(size: int) -> AnyFont:
        raise OSError("no font")

    problems: list[str] = []
    img = zpl_image.render_layout(layout, broken, problems)
    assert img.size == (800, 1200)
    assert problems and all("no font" in p for p in problems)
