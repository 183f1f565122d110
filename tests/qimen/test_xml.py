"""奇门 XML: byte-exact documents out, hostile or malformed documents refused on the way in."""

import pytest

from o2o_bridge.connectors.qimen import models as qm
from o2o_bridge.connectors.qimen.xml_codec import XmlRefused, dump_document, parse_document

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<request><deliveryOrder><deliveryOrderCode>&lol3;</deliveryOrderCode></deliveryOrder></request>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<request><deliveryOrder><deliveryOrderCode>&xxe;</deliveryOrderCode></deliveryOrder></request>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE request SYSTEM "http://127.0.0.1:1/evil.dtd"><request/>"""


def test_delivery_order_create_is_written_byte_exact():
    document = qm.DeliveryOrderCreate(
        delivery_order=qm.DeliveryOrderHead(
            delivery_order_code="SO1", warehouse_code="WH01", order_flag="COD", create_time="2024-01-01 12:00:00",
            ar_amount="99.50",
            receiver_info=qm.Contact(name="张三 & 李四", mobile="13800000000", province="上海", city="上海市",
                                     area="静安区", detail_address="南京西路 1 号 <3F>")),
        order_lines=[qm.CreateLine(order_line_no="1", owner_code="OWN", item_code="SKU-A", plan_qty=2),
                     qm.CreateLine(order_line_no="2", owner_code="OWN", item_code="SKU-B", plan_qty=1)],
    )
    assert dump_document("request", document.to_xml_content()).decode() == (
        '<?xml version="1.0" encoding="utf-8"?><request>'
        '<deliveryOrder><deliveryOrderCode>SO1</deliveryOrderCode><orderType>JYCK</orderType>'
        '<warehouseCode>WH01</warehouseCode><orderFlag>COD</orderFlag><sourcePlatformCode>POS</sourcePlatformCode>'
        '<createTime>2024-01-01 12:00:00</createTime><arAmount>99.50</arAmount>'
        '<receiverInfo><name>张三 &amp; 李四</name><mobile>13800000000</mobile><province>上海</province>'
        '<city>上海市</city><area>静安区</area><detailAddress>南京西路 1 号 &lt;3F&gt;</detailAddress></receiverInfo>'
        '</deliveryOrder>'
        '<orderLines><orderLine><orderLineNo>1</orderLineNo><ownerCode>OWN</ownerCode><itemCode>SKU-A</itemCode>'
        '<planQty>2</planQty><inventoryType>ZP</inventoryType></orderLine>'
        '<orderLine><orderLineNo>2</orderLineNo><ownerCode>OWN</ownerCode><itemCode>SKU-B</itemCode>'
        '<planQty>1</planQty><inventoryType>ZP</inventoryType></orderLine></orderLines>'
        '</request>'
    )


def test_written_document_reads_back():
    content = {"criteriaList": [{"warehouseCode": "WH", "ownerCode": "O", "itemCode": "A"}]}
    assert parse_document(dump_document("request", content), expected_root="request") == {
        "criteriaList": [{"warehouseCode": "WH", "ownerCode": "O", "itemCode": "A"}]}


def test_list_wrappers_read_as_lists_with_one_or_many_entries():
    one = parse_document(b"<request><packages><package><items><item><itemCode>A</itemCode>"
                         b"<quantity>1</quantity></item></items></package></packages></request>")
    assert one == {"packages": [{"items": [{"itemCode": "A", "quantity": "1"}]}]}
    repeated = parse_document(b"<request><x>1</x><x>2</x><x>3</x></request>")
    assert repeated == {"x": ["1", "2", "3"]}


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD])
def test_hostile_xml_is_refused(hostile):
    with pytest.raises(XmlRefused, match="DTD or entity"):
        parse_document(hostile)


@pytest.mark.parametrize("bad, why", [
    (b"", "empty"),
    (b"<request><a></request>", "malformed"),
    (b"not xml at all", "malformed"),
    (b"<response/>", "root element must be <request>"),
    (b"<request>" + b"<a>" * 40 + b"x" + b"</a>" * 40 + b"</request>", "nested deeper"),
])
def test_malformed_xml_is_refused(bad, why):
    with pytest.raises(XmlRefused, match=why):
        parse_document(bad, expected_root="request")


def test_huge_body_is_refused_before_parsing():
    with pytest.raises(XmlRefused, match="larger than"):
        parse_document(b"<request>" + b" " * 3_000_000 + b"</request>")


def test_confirm_reads_into_its_model_and_refuses_bad_quantities():
    raw = (b'<?xml version="1.0" encoding="utf-8"?><request><deliveryOrder><deliveryOrderCode>SO1</deliveryOrderCode>'
           b"<warehouseCode>WH01</warehouseCode><orderType>JYCK</orderType><outBizCode>M1</outBizCode>"
           b"<confirmType>1</confirmType></deliveryOrder><packages><package><logisticsCode>SF</logisticsCode>"
           b"<expressCode>SF100</expressCode><items><item><itemCode>A</itemCode><quantity>2.000</quantity></item>"
           b"</items></package></packages><orderLines/></request>")
    confirm = qm.DeliveryOrderConfirm.model_validate(parse_document(raw))
    assert confirm.delivery_order.confirm_type == 1
    assert confirm.packages[0].items[0].quantity == 2
    assert confirm.order_lines == []
    with pytest.raises(ValueError, match="whole number"):
        qm.DeliveryOrderConfirm.model_validate(parse_document(raw.replace(b"2.000", b"2.5")))
    with pytest.raises(ValueError, match="greater than or equal"):
        qm.DeliveryOrderConfirm.model_validate(parse_document(raw.replace(b"2.000", b"-1")))
