"""The tenant: one 店+ merchant (entId) with its ERP (JST or 旺店通), store system and mappings.

This is the tenant file (docs/runbook.md) as a pydantic v2 model. Secrets are
given inline (local use) or as a Secrets Manager reference in the sibling ``*_ref`` key;
unknown keys are refused so a typo in a tenant file is reported, not ignored.
"""


import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    AfterValidator,
    BeforeValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .stock_formula import FormulaError, StockFormula

if TYPE_CHECKING:
    from .ports import SecretResolver

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^secretsmanager:[A-Za-z0-9/_+=.@-]+(#[A-Za-z0-9_.-]+)?$",
        description="secretsmanager:NAME, or secretsmanager:NAME#json_key for one key of a JSON secret",
    ),
]
def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_http_url)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _validate_with(handler, data: Any, problems: list[tuple[tuple[str, ...], str]]):
    """Run pydantic's own validation and report ``problems`` together with its errors.

    An "after" model validator never runs when a field already failed, so a tenant file
    with a typo would hide its other mistakes; checks on the raw document run first and
    are merged here so ``tenant put`` lists every error at once.
    """
    extra = [
        {"type": PydanticCustomError("tenant_rule", message), "loc": loc, "input": data} for loc, message in problems
    ]
    try:
        model = handler(data)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title,
            [{"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
             for e in exc.errors(include_url=False)] + extra,
        ) from None
    if extra:
        raise ValidationError.from_exception_data(type(model).__name__, extra)
    return model


class _WithSecrets(_Strict):
    """A section whose secrets come inline or as ``<name>_ref``; ``_required_secrets`` must have one."""

    _required_secrets: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _one_source_per_secret(cls, data: Any, handler):
        problems = []
        if isinstance(data, dict):
            for name in cls.model_fields:
                if name.endswith("_ref") or f"{name}_ref" not in cls.model_fields:
                    continue
                inline, ref = data.get(name), data.get(f"{name}_ref")
                if inline is not None and ref is not None:
                    problems.append(((name,), f"give {name} or {name}_ref, not both"))
                elif inline is None and ref is None and name in cls._required_secrets:
                    problems.append(((name,), f"required: give {name} inline or {name}_ref: secretsmanager:NAME"))
        return _validate_with(handler, data, problems)

    def secret_source(self, name: str) -> SecretStr | str | None:
        """The inline SecretStr, the reference string, or None when the secret is not set."""
        inline = getattr(self, name)
        return inline if inline is not None else getattr(self, f"{name}_ref")

    def reveal(self, name: str, resolver: "SecretResolver") -> str | None:
        """The secret's value: inline, or read through ``resolver`` from its reference. Once
        revealed, the value is masked in every log line, error and dead letter of the process."""
        from .redaction import remember

        source = self.secret_source(name)
        if isinstance(source, SecretStr):
            value = source.get_secret_value()
        else:
            value = resolver.resolve(source) if source else None
        remember(value)
        return value


class CallbackAuth(_WithSecrets):
    """How JST pushes to our callback URLs are authenticated (the store contract, docs/openapi/pos-api.yaml)."""

    partner_key: SecretStr | None = None
    partner_key_ref: SecretRef | None = None
    token: SecretStr | None = None
    token_ref: SecretRef | None = None
    # Only an explicit opt-in accepts unauthenticated pushes.
    allow_unsigned: bool = False
    # Which proof a push may bring. Default: the sign when a partner key is set (the token is
    # then refused: a URL carrying both would let a captured push drop its sign and live
    # forever), else the token. Both only by naming them (the local demo does, for its
    # token-authenticated sample events next to the sandbox's signed pushes).
    accept: list[Literal["sign", "token"]] | None = None
    # A signed push's ts must be within this many seconds of now, either way (JST's own API
    # allows 10 minutes of clock error). 0 switches the window off: a captured push then
    # stays valid forever; see docs/security.md.
    max_age_seconds: Annotated[int, Field(ge=0, le=86400)] = 600
    # The method name JST's cancel push carries (unknown to the sources). Unset: the cancel
    # route accepts any method but logistics.upload, refund.goods and inventory.upload.
    cancel_method: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # The token path: each callback URL carries its own token, derived from ``token`` for that
    # route, entId and storageCode (``o2o tenant urls --reveal-token``), so a URL seen once
    # works on no other callback. True also accepts the plain token on every URL, as URLs set
    # up before per-URL tokens carry it (each such push logs a warning); set false once JST has
    # the per-URL ones (docs/runbook.md, "Callback tokens per URL").
    tenant_wide_token: bool = True

    @model_validator(mode="after")
    def _some_authentication(self):
        if not (self.secret_source("partner_key") or self.secret_source("token") or self.allow_unsigned):
            raise ValueError("set partner_key or token (inline or *_ref), or opt out explicitly with allow_unsigned: true")
        for kind, secret in (("sign", "partner_key"), ("token", "token")):
            if kind in (self.accept or ()) and not self.secret_source(secret):
                raise ValueError(f"accept names {kind} but {secret} (or {secret}_ref) is not set")
        return self

    def accepted_proofs(self) -> frozenset[str]:
        if self.accept is not None:
            return frozenset(self.accept)
        return frozenset({"sign"} if self.secret_source("partner_key") else {"token"} if self.secret_source("token") else ())


class RateLimit(_Strict):
    per_second: PositiveInt = 5
    per_minute: PositiveInt = 100
    # JST does not document how it counts: "sliding" never exceeds the limit in any 1 s / 60 s
    # interval; "fixed" counts calendar seconds and minutes (cheaper, but up to 2x per_second
    # in a sliding second across a boundary). See docs/jst-rate-limits.md.
    counting: Literal["sliding", "fixed"] = "sliding"
    # Sliding only: each window is counted this much longer, to absorb latency differences
    # between grant and call and clock skew between Lambdas. 500 ms already costs a third of
    # the per-second rate.
    margin_ms: Annotated[int, Field(ge=0, le=500)] = 50


class TransferApi(_Strict):
    """JST's transfer-document endpoints as one public SDK names them (not in the JST
    reference the bridge was built from): the paths and the statuses that mean shipped or
    voided are the tenant's to correct if their JST answers otherwise."""

    upload_path: str = "/open/allocate/kc/upload"
    query_path: str = "/open/allocate/query"
    shipped_statuses: list[str] = ["Confirmed"]
    voided_statuses: list[str] = ["Cancelled", "Delete"]


class JushuitanConfig(_WithSecrets):
    _required_secrets: ClassVar[tuple[str, ...]] = ("app_secret",)

    base_url: Url = "https://openapi.jushuitan.com"
    app_key: Annotated[str, Field(min_length=1)]
    app_secret: SecretStr | None = None
    app_secret_ref: SecretRef | None = None
    access_token: SecretStr | None = None
    access_token_ref: SecretRef | None = None
    refresh_token: SecretStr | None = None
    refresh_token_ref: SecretRef | None = None
    callback: CallbackAuth
    offline_wms_co_id: PositiveInt
    main_wms_co_id: PositiveInt
    return_wms_co_id: PositiveInt | None = None
    self_mall_shop_id: PositiveInt
    # The JST warehouse part after-sale uploads name for returned goods (售后 warehouse_type):
    # 2 = 销退仓 as the guide sets up; 1 main, 3 进货仓, 4 次品仓.
    aftersale_warehouse_type: Literal[1, 2, 3, 4] = 2
    # JST warehouses with 货位管理 (bin management): there a count upload with type=check zeroes
    # every SKU not sent, so the bridge sends the difference (type=adjust) instead. JST's API
    # does not say which warehouses manage bins: list them; [] states that none does. Unset
    # (None) is treated as [] but `tenant doctor` asks until the fact is stated.
    bin_managed_wms_co_ids: list[PositiveInt] | None = None
    # 配货 in JST (the guide's two ways): other_out = an other out (其它出库) of the main
    # warehouse; transfer = a transfer document (调拨单, JST's 调拨出库 page) from the main
    # warehouse to the store's own JST warehouse, else to 店加线下仓.
    replenishment_document: Literal["other_out", "transfer"] = "other_out"
    transfer_api: TransferApi = TransferApi()
    # The order statuses (/open/orders/single/query ``status``) that mean JST cancelled (取消) or
    # voided (作废) a store order the bridge submitted (S2c), read by the cancel push's re-read
    # and by the 15-minute S2x poll. JST documents Cancelled; a JST that shows its 作废 orders
    # under another status (e.g. Delete, the sales outbound's 作废) lists it here too.
    cancelled_order_statuses: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = ["Cancelled"]
    # S1: outbounds confirmed in one /open/orders/wms/sent/upload call (each call is one call of the
    # rate limit). JST documents no maximum for the array; 50 is the most the bridge has checked (the
    # JST sandbox refuses more): lower it if JST refuses an array that large.
    confirmations_per_call: Annotated[int, Field(ge=1, le=50)] = 50

    def bin_managed(self, wms_co_id: int) -> bool:
        return wms_co_id in (self.bin_managed_wms_co_ids or ())
    rate_limit: RateLimit = RateLimit()


Code = Annotated[str, Field(min_length=1)]


def _text_code(value: Any) -> Any:
    # Warehouse and shop numbers such as 000 or 1001 are text: a YAML int is taken as written.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


WdtCode = Annotated[str, BeforeValidator(_text_code), Field(min_length=1, max_length=40)]


class WdtRateLimit(RateLimit):
    """The 企业版 publishes no limits: these are the bridge's own pace, shared by every Lambda."""

    per_minute: PositiveInt = 300


class WdtErrorCodes(_Strict):
    """旺店通's codes are not published; the client recognises its messages, and a deployment
    that has seen a code may name it here."""

    rate_limit_codes: list[int] = []
    transient_codes: list[int] = []
    auth_codes: list[int] = []
    timestamp_codes: list[int] = []
    duplicate_codes: list[int] = []  # "this outer_no is already booked": the push was done before


class WdtDocuments(_Strict):
    """Which ERP stock-in / stock-out documents reach the stores (W2). The query answers'
    type codes are not published: a document is left out when its type code or its type
    name is listed here (the guide's five: JIT退货入库, 预入库, 线上销售单, 盘盈单, 盘亏单)."""

    excluded_stockin_types: list[WdtCode] = ["4"]
    excluded_stockout_types: list[WdtCode] = ["1", "4"]
    excluded_type_names: list[str] = ["JIT退货入库", "预入库", "线上销售单", "销售出库", "盘盈入库", "盘亏出库",
                                      "盘盈单", "盘亏单"]
    # Only documents in these states are passed on (empty: every state); 旺店通's status
    # numbers are not published for these queries.
    statuses: list[WdtCode] = []
    # The bridge's own pushes carry an outer_no with this prefix; they never come back (W3).
    own_outer_no_prefix: Annotated[str, Field(min_length=2)] = "O2O-"
    # Each 10-minute run reads back this far before its last end (overlapping windows).
    overlap_minutes: Annotated[int, Field(ge=1, le=120)] = 20


FieldNames = Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]], Field(min_length=1)]


class WdtCountQuery(_Strict):
    """Where stock_pd_order_query.php's answer holds the 盘点 (unpublished: assumed names, the
    first present is used). The look-up before each 盘点 reads the answer strictly: one of
    another shape is an error naming the setting here, and nothing is booked."""

    list_keys: FieldNames = ["stock_pd_list", "pd_list", "order_list", "orders"]
    number_fields: FieldNames = ["pd_no", "order_no"]
    remark_fields: FieldNames = ["remark"]
    warehouse_fields: FieldNames = ["warehouse_no"]
    modified_fields: FieldNames = ["modified"]


class WangdiantongConfig(_WithSecrets):
    """The 旺店通 ERP 企业版 section of a tenant whose ``erp`` is ``wangdiantong``."""

    _required_secrets: ClassVar[tuple[str, ...]] = ("appsecret",)

    base_url: Url = "https://api.wangdian.cn/openapi2"
    sid: Code
    appkey: Code
    appsecret: SecretStr | None = None
    appsecret_ref: SecretRef | None = None
    shop_no: WdtCode
    main_warehouse_no: WdtCode
    no_tracking_logistics_code: WdtCode
    cod_logistics_code: WdtCode
    rate_limit: WdtRateLimit = WdtRateLimit()
    # Platforms (platform_id) whose shops trade_push accepts: 自有 and 其它. The ids are an
    # assumption (127 = 其它 in sales_refund_push); the doctor names the shop's platform.
    push_platform_ids: list[WdtCode] = ["0", "127"]
    # trade_push's switch: 0 non-strict (the default), 1 strict; its exact meaning is unpublished.
    strict_trade_push: bool = False
    # Send each sale's store warehouse as trade warehouse_no (seen only in other 旺店通 lines).
    trade_warehouse_no: bool = False
    errors: WdtErrorCodes = WdtErrorCodes()
    documents: WdtDocuments = WdtDocuments()
    trade_page_size: Annotated[int, Field(ge=1, le=100)] = 40
    document_lines: PositiveInt = 1000
    count_lines: PositiveInt = 1000
    # stock_sync_by_pd keeps no outer_no: before booking a count the bridge looks this far back
    # for a 盘点 whose remark carries the count's key (stock_pd_order_query.php), so a count whose
    # answer was lost, or a replay from the dead letters, is never booked twice.
    count_lookback_days: Annotated[int, Field(ge=1, le=90)] = 30
    count_query: WdtCountQuery = WdtCountQuery()


class PosConfig(_WithSecrets):
    _required_secrets: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")

    base_url: Url
    api_key: SecretStr | None = None
    api_key_ref: SecretRef | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_ref: SecretRef | None = None
    # /pos/events refuses an event whose occurred_at is older than this (a captured event
    # replayed later) or further ahead than event_max_ahead_seconds. At most 7 days, so the
    # idempotency record of an accepted event (14 days) outlives the window: a replay inside
    # the window is a duplicate, one after it is refused.
    event_max_age_hours: Annotated[int, Field(ge=1, le=7 * 24)] = 24
    event_max_ahead_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    # The 02:10 run reads store stock (P8) as this many SKU ranges side by side, cut from the
    # last run's SKUs; 1 reads it in one stream. 1 M rows are 1 000 pages: at 50 ms an answer
    # one stream waits 50 s, 8 ranges ~6 s, under the 15 s the JST uploads of a 10 % change
    # need. 店+ answers 429 when it is busy and the client waits as told, so a store system
    # that takes fewer scans at once slows the read, it does not fail it.
    parallel_reads: Annotated[int, Field(ge=1, le=16)] = 8


class Store(_Strict):
    code: Annotated[str, Field(min_length=1)]
    name: str
    regions: list[str] = []
    priority: int = 100
    daily_capacity: PositiveInt | None = None
    ship: bool = True
    pickup: bool = False
    # The city the store is in: a pickup the chosen store cannot serve only moves to a pickup
    # store of the same city (门店自提; unset: only the chosen store itself may serve it).
    city: str | None = None
    safety_stock: Annotated[int, Field(ge=0)] | None = None
    # S4: this store's stock counts into the JST 店加线下仓 (offline_wms_co_id).
    feeds_offline: bool = True
    # 旺店通: the store's ERP warehouse (仓库编号); the guide makes it the store code.
    wdt_warehouse_no: WdtCode | None = None

    @property
    def wdt_warehouse(self) -> str:
        """The 旺店通 仓库编号 of this store: ``wdt_warehouse_no``, else the store code."""
        return self.wdt_warehouse_no or self.code


class RoutingOptions(_Strict):
    """How S1 picks a store for an online order (route_outbound in flows/routing.py)."""

    # JST logistics code confirmed for a store pickup (门店自提): no tracking number is sent.
    pickup_lc_id: str | None = None
    # An outbound carrying this JST label is a pickup order; only pickup stores serve it.
    pickup_label: str = "门店自提"
    # The JST outbound field that carries the store the customer chose for 门店自提 (JST does
    # not document one; set it to the field your shop's order import fills). An outbound with a
    # store code there is a pickup at that store.
    pickup_store_field: Annotated[str, Field(min_length=1)] = "pickup_store_code"
    # 指定下单店仓: the store that takes an order no store passes the filters for.
    fallback_store: str | None = None
    # Candidates are ranked by these keys in turn: priority (lower first), stock (more
    # left after the order first).
    order_by: list[Literal["priority", "stock"]] = ["priority", "stock"]
    # Read each candidate's stock (P7) before routing to it.
    check_stock: bool = True
    # An order still being routed or dispatched after this long (its retries gave up or keep
    # failing) is listed by `o2o exceptions list` so an operator can re-route it.
    stuck_after_minutes: PositiveInt = 30


class OrderCentreOptions(_Strict):
    """What the order centre does around routing (flows/cod.py, reservations.py, healing.py)."""

    # 货到付款: the field of the ERP's outbound that marks a COD order (JST: is_cod), and a label
    # that marks one as well.
    cod_field: str = "is_cod"
    cod_label: str | None = "货到付款"
    # An outbound without the COD field (or what was paid online) is read with its ERP order,
    # which carries them (JST: one order query per page of outbounds). Off: the outbound alone.
    cod_from_order: bool = True
    # A COD order shipped or picked up this many days ago and still not collected is overdue.
    cod_overdue_days: PositiveInt = 3
    # A pickup order not picked up this many days after it reached the store expires into a
    # person's queue (o2o exceptions list) and the pickup-summary report counts it expired.
    pickup_expiry_days: PositiveInt = 7
    # Parked orders are re-routed by the schedule at most this many times.
    heal_max_attempts: Annotated[int, Field(ge=0, le=100)] = 6
    # Dispatched orders reserve their lines at the store (预订单占用可用量): routing reads a
    # store's stock minus what it holds, so two orders never take its last unit.
    reserve_stock: bool = True
    # The stock reported to the ERP's 店加线下仓 (S4) is store stock minus what is held. Turn it
    # off when the ERP's own order occupation already holds the dispatched orders' stock.
    report_minus_reservations: bool = True


class WarehouseMapping(_Strict):
    jst_wms_co_id: PositiveInt
    pos_warehouse_code: Annotated[str, Field(min_length=1)]

    @field_validator("pos_warehouse_code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class LogisticsMapping(_Strict):
    jst_lc_id: Annotated[str, Field(min_length=1)]
    pos_code: Annotated[str, Field(min_length=1)]
    name: str


class StockOptions(_Strict):
    master: Literal["pos", "erp"] = "pos"
    formula: str = "qty"
    safety_stock: Annotated[int, Field(ge=0)] = 0
    # S4: store events within this many seconds go to JST as one upload (SQS delay, ≤ 900).
    coalesce_seconds: Annotated[int, Field(ge=0, le=900)] = 30
    # A JST stock level's version is its modified time: a pushed one later than now + this is
    # refused (it would pin the level until then), one JST's API answers is counted as now + this.
    clock_allowance_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    # 销退仓: the 店+ warehouse that shows JST's sales-return stock (the guide codes it "2");
    # unset, returned goods are not shown in 店+ (flows/sales_return_stock.py).
    sales_return_warehouse: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("sales_return_warehouse", mode="before")
    @classmethod
    def _return_code_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, text: str) -> str:
        try:
            StockFormula(text)
        except FormulaError as exc:
            raise ValueError(str(exc)) from None
        return text


class ProductOptions(_Strict):
    """The guide's 商品同步 settings (docs/s5-s7-transfers-and-products.md lists each)."""

    auto_create: bool = True              # 自动建档
    pull_spu: bool = False                # 拉取SPU
    # 标准零售价 ← JST 一口价: "never" (不同步销售价), "on_create" (a new product gets JST's price,
    # the store's own price is never overwritten; the default) or "overwrite" (JST's price
    # replaces the store's every sync: the guide's separately enabled mode).
    sale_price: Literal["never", "on_create", "overwrite"] = "on_create"
    # The older switch: false = sale_price "never"; true = the default above. Kept so tenant
    # files written before sale_price still load.
    sync_sale_price: bool | None = None
    only_label: str | None = None         # 仅同步含店加标签
    category_once: bool = False           # 仅同步一次类目
    # 仅同步一次类目: new products are filed under this store category first (the guide's 其他,
    # created in 店+ beforehand); later syncs never change a product's category.
    staging_category: Annotated[str, Field(min_length=1)] = "其他"
    mount_category: str | None = None     # 挂载类目
    spec_template: str | None = None
    attribute_fields: dict[str, Annotated[str, Field(pattern=r"^other_([1-9]|10)$")]] = {}
    # 旺店通 (W2): SKUs of an ERP document unknown to the store are created first (P9).
    create_from_documents: bool = True

    @property
    def price_mode(self) -> str:
        return "never" if self.sync_sale_price is False else self.sale_price


class QimenCarrier(_Strict):
    """One carrier both ways: the 店+ carrier code and the code the WMS uses (SF, ZTO, ...)."""

    pos_code: Annotated[str, Field(min_length=1)]
    qimen_code: Annotated[str, Field(min_length=1)]
    name: str | None = None  # the carrier name the store shows; default: the WMS's own name


class QimenCatchUpQuery(_Strict):
    """How the catch-up asks the WMS for one kind of document: the 奇门 query method (``off``:
    this kind is never asked for; its lost confirm waits for the WMS's re-send) and the
    document statuses after which the WMS will confirm nothing more of it."""

    method: Literal["deliveryorder.query", "entryorder.query", "off"]
    # Empty: the kind's default (DELIVERED / FULFILLED, CANCELED, CLOSED).
    done_statuses: list[Annotated[str, Field(min_length=1, max_length=32)]] = []
    # The answer's element holding the document (default: deliveryOrder / entryOrder, by method).
    answer_node: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")] | None = None


def _catch_up_defaults() -> dict[str, QimenCatchUpQuery]:
    # The 奇门 standard has deliveryorder.query and entryorder.query only: a stockout (配货) is a
    # delivery order at the WMS (stockout.create answers a deliveryOrderId), a return
    # (returnorder.create) an inbound. Both are assumptions to agree with each WMS.
    shipped = ["DELIVERED", "CANCELED", "CLOSED"]
    received = ["FULFILLED", "CANCELED", "CLOSED"]
    return {"delivery": QimenCatchUpQuery(method="deliveryorder.query", done_statuses=shipped),
            "stockout": QimenCatchUpQuery(method="deliveryorder.query", done_statuses=shipped),
            "entry": QimenCatchUpQuery(method="entryorder.query", done_statuses=received),
            "return": QimenCatchUpQuery(method="entryorder.query", done_statuses=received)}


def _code_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


QimenCode = Annotated[str, BeforeValidator(_code_text), Field(min_length=1, max_length=64)]


class QimenConfig(_WithSecrets):
    """``warehouse: qimen``: a 3PL cloud WMS over the 奇门 WMS standard (Q1-Q6)."""

    _required_secrets: ClassVar[tuple[str, ...]] = ("app_secret",)

    gateway_url: Url = "https://qimen.api.taobao.com/router/qimen/service"
    app_key: Annotated[str, Field(min_length=1)]
    # Also verifies the WMS's calls to /qimen/callback.
    app_secret: SecretStr | None = None
    app_secret_ref: SecretRef | None = None
    customer_id: QimenCode               # customerId, the routing id both ways
    warehouse_code: QimenCode            # the WMS warehouse
    owner_code: QimenCode                # 货主编码
    # The 店+ warehouse whose stock the WMS's stock becomes (default: warehouse_code).
    pos_warehouse_code: QimenCode | None = None
    logistics: list[QimenCarrier] = []
    v: str = "2.0"
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = "md5"
    # 奇门 publishes no limit; the JST-like default paces every call of the app.
    rate_limit: RateLimit = RateLimit()
    # A WMS call whose timestamp is further than this from our clock is refused (a replay);
    # 0 turns the check off. 奇门 states no tolerance: 10 minutes is an assumption.
    callback_max_skew_seconds: Annotated[int, Field(ge=0, le=86400)] = 600
    # 配货 goes out as 调拨出库 (DBCK) or 普通出库 (PTCK); 退仓 comes in as 调拨入库 (DBRK) or 其他入库 (QTRK).
    transfer_order_type: Literal["DBCK", "PTCK"] = "DBCK"
    warehouse_return_order_type: Literal["DBRK", "QTRK"] = "DBRK"
    # The catch-up: a document (store order, 配货, 退仓, return) the WMS has not confirmed in full
    # this long after its last news is asked for by the 10/15-minute document runs, in case a
    # confirm was lost.
    catch_up_after_minutes: Annotated[int, Field(ge=5, le=7 * 24 * 60)] = 60
    # At most this many documents are asked for a run (the oldest news first); the rest wait.
    catch_up_per_run: Annotated[int, Field(ge=1, le=1000)] = 100
    # Per kind of document (delivery: store orders, stockout: 配货, entry: 退仓, return: returns),
    # which 奇门 query the catch-up asks and which statuses end the document. A kind left out
    # keeps its default; ``method: off`` turns that kind's catch-up off.
    catch_up_queries: dict[Literal["delivery", "stockout", "entry", "return"], QimenCatchUpQuery] = {}

    @field_validator("catch_up_queries")
    @classmethod
    def _query_fits_kind(cls, queries: dict[str, QimenCatchUpQuery]) -> dict[str, QimenCatchUpQuery]:
        fits = {"delivery": "deliveryorder.query", "stockout": "deliveryorder.query", "entry": "entryorder.query",
                "return": "entryorder.query"}
        wrong = [f"{kind}: {query.method} does not answer for a {kind} document (use {fits[kind]} or off)"
                 for kind, query in queries.items() if query.method not in (fits[kind], "off")]
        if wrong:
            raise ValueError("; ".join(wrong))
        return queries

    def catch_up_query(self, kind: str) -> QimenCatchUpQuery:
        default = _catch_up_defaults()[kind]
        given = self.catch_up_queries.get(kind)  # type: ignore[call-overload]
        if given is None:
            return default
        return given if given.done_statuses else given.model_copy(update={"done_statuses": default.done_statuses})

    @property
    def store_warehouse_code(self) -> str:
        return self.pos_warehouse_code or self.warehouse_code

    @model_validator(mode="wrap")
    @classmethod
    def _unique_carriers(cls, data: Any, handler):
        problems = []
        rows = data.get("logistics") if isinstance(data, dict) else None
        if isinstance(rows, list):
            for key in ("pos_code", "qimen_code"):
                keys = [str(r.get(key)) for r in rows if isinstance(r, dict) and r.get(key) is not None]
                repeated = sorted({k for k in keys if keys.count(k) > 1})
                if repeated:
                    problems.append((("logistics",), f"{key} must be unique; repeated: {', '.join(repeated)}"))
        return _validate_with(handler, data, problems)


class Tenant(_Strict):
    ent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, Field(min_length=1)]
    # The tenant's one ERP; its section is required and the other ERP's is refused.
    erp: Literal["jushuitan", "wangdiantong"] = "jushuitan"
    jushuitan: JushuitanConfig | None = None
    wangdiantong: WangdiantongConfig | None = None
    pos: PosConfig
    # Who ships store and micro-mall orders, 配货 and 退仓, and holds the warehouse stock:
    # the ERP, or a cloud WMS over 奇门 (the ``qimen`` section).
    warehouse: Literal["erp", "qimen"] = "erp"
    qimen: QimenConfig | None = None
    stores: list[Store] = []
    warehouses: list[WarehouseMapping] = []
    logistics: list[LogisticsMapping] = []
    stock: StockOptions = StockOptions()
    products: ProductOptions = ProductOptions()
    routing: RoutingOptions = RoutingOptions()
    order_centre: OrderCentreOptions = OrderCentreOptions()

    @field_validator("ent_id", mode="before")
    @classmethod
    def _ent_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="wrap")
    @classmethod
    def _unique_keys(cls, data: Any, handler):
        problems = []
        if isinstance(data, dict):
            for section, key in (
                ("stores", "code"),
                ("warehouses", "jst_wms_co_id"),
                ("warehouses", "pos_warehouse_code"),
                ("logistics", "jst_lc_id"),
            ):
                rows = data.get(section)
                keys = [str(row.get(key)) for row in rows if isinstance(row, dict) and row.get(key) is not None] if isinstance(rows, list) else []
                repeated = sorted({k for k in keys if keys.count(k) > 1})
                if repeated:
                    problems.append(((section,), f"{key} must be unique; repeated: {', '.join(repeated)}"))
            erp = data.get("erp", "jushuitan")
            sections = {"jushuitan": "JST", "wangdiantong": "旺店通"}
            if erp in sections:
                if data.get(erp) is None:
                    problems.append(((erp,), f"required: a tenant whose erp is {erp} needs its {erp} section"))
                for other, label in sections.items():
                    if other != erp and other in data:
                        problems.append(((other,), f"a tenant has one ERP: erp is {erp}, so remove the {other} "
                                                   f"({label}) section"))
            stores_rows = data.get("stores") if isinstance(data.get("stores"), list) else []
            if erp == "wangdiantong":
                warehouses = [str(s.get("wdt_warehouse_no") or s.get("code")) for s in stores_rows if isinstance(s, dict)]
                repeated = sorted({w for w in warehouses if warehouses.count(w) > 1})
                if repeated:
                    problems.append((("stores",), f"wdt_warehouse_no (default: the store code) must be unique; "
                                                  f"repeated: {', '.join(repeated)}"))
            if data.get("warehouse") == "qimen" and not isinstance(data.get("qimen"), dict):
                problems.append((("qimen",), "required when warehouse is qimen: the cloud WMS's 奇门 app, "
                                             "customer_id, warehouse_code and owner_code"))
            routing, stores = data.get("routing"), data.get("stores")
            fallback = routing.get("fallback_store") if isinstance(routing, dict) else None
            codes = {str(s.get("code")) for s in stores if isinstance(s, dict)} if isinstance(stores, list) else set()
            # A tenant still without stores routes nothing; `tenant doctor` reports that on its own.
            if fallback is not None and codes and str(fallback) not in codes:
                problems.append((("routing", "fallback_store"), f"{fallback} is not one of the tenant's stores"))
        return _validate_with(handler, data, problems)

    @model_validator(mode="after")
    def _secrets_under_own_path(self):
        # Functions may read every secret under the prefix (IAM cannot tell tenants apart inside
        # one function), so a tenant file may only name secrets under its own path: tenant A
        # cannot point a reference at tenant B's partner key.
        own = f"secretsmanager:{tenant_secret_prefix()}tenants/{self.ent_id}/"
        wrong = [f"{path}: {ref}" for path, ref in self.secret_references() if not ref.startswith(own)]
        if wrong:
            raise ValueError(f"secret references must name a secret under {own[len('secretsmanager:'):]}…; "
                             + "; ".join(wrong))
        return self

    def secret_references(self) -> list[tuple[str, str]]:
        """(key path, reference) of every secret given as ``*_ref``."""
        return [(path, value) for path, value in _secret_fields(self) if isinstance(value, str)]

    def inline_secret_paths(self) -> list[str]:
        """Key paths of the secrets given inline (refused against a deployed stack)."""
        return [path for path, value in _secret_fields(self) if isinstance(value, SecretStr)]

    # Storage keeps the real secret values (the table is encrypted); display masks them.
    def to_storage(self) -> dict[str, Any]:
        return _reveal(self.model_dump(mode="python", exclude_none=True))

    def to_display(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def inline_secrets(self) -> list[str]:
        """Every inline secret value, so error text can be scrubbed of them."""
        found: list[str] = []
        _collect_secrets(self, found)
        return found


def tenant_secret_prefix() -> str:
    """The Secrets Manager name prefix of tenant secrets (template parameter TenantSecretPrefix)."""
    import os

    return os.environ.get("O2O_TENANT_SECRET_PREFIX", "o2o/")


def _secret_fields(model: BaseModel, path: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        here = f"{path}.{name}" if path else name
        if isinstance(model, _WithSecrets) and value is not None and (
                isinstance(value, SecretStr) or (name.endswith("_ref") and name[:-4] in type(model).model_fields)):
            found.append((here, value))
        elif isinstance(value, BaseModel):
            found.extend(_secret_fields(value, here))
    return found


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _collect_secrets(model: BaseModel, found: list[str]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _collect_secrets(value, found)


def validation_messages(error: ValidationError) -> list[str]:
    """One ``key.path[0].name: message`` line per problem in a tenant file."""
    lines = []
    for item in error.errors(include_url=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        lines.append(f"{path or '(top level)'}: {message}")
    return lines


def parse_tenant(data: Any) -> Tenant:
    """Validate a tenant document; raises ValidationError (see ``validation_messages``)."""
    return Tenant.model_validate(data)


class TenantRepository(Protocol):
    """Where tenants are kept (connectors/aws: StateTable; tests: in memory)."""

    def get(self, ent_id: str) -> Tenant | None: ...

    def get_with_records(self, ent_id: str, wanted: list[tuple[str, str]]
                         ) -> tuple[Tenant | None, dict[tuple[str, str], Any] | None]:
        """``get``, and these flow records of the tenant ``(kind, key)`` read in the same request
        where the tenant is read at all: ``(tenant, the records found)``; ``(tenant, None)`` when
        nothing was read with it (a cached tenant, or a store that reads them apart): the work
        reads its records itself."""

    def put(self, tenant: Tenant) -> None: ...
    def list_ids(self) -> list[str]: ...
