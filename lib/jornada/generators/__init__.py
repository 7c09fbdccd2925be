"""Deterministic data generators for the Liga Sudoers OLTP database.

Three ways to fill the shop, as in the original course, without its bugs:

* :func:`load_customers` — new customers with a home address, in bulk (COPY, one transaction);
* :func:`load_history` — past orders (1..max_days days before a reference ``now``) for EXISTING
  customers and products, ~1 % fraud, bulk-loaded with COPY in one transaction;
* :func:`run_stream` — current-time orders, one transaction per order, new customers on the way,
  ~5 % fraud; lessons and tests give it a :func:`shop_clock` so its orders are the same on every run.

Determinism: every random choice comes from a ``numpy.random.Generator`` (and a Faker instance)
seeded from ``seed``; dates come from the reference ``now``, never from the wall clock. So the same
seed + same ``now`` + same database state gives identical rows. Per-customer traits that must stay
the same across loads (habitual device, phone number, how often they shop, the device a fraudster
uses on their account) are derived from the customer id with a fixed hash, not drawn.

How fraud is simulated (the ground truth goes to ``fraudes_confirmadas``; the rules in
:mod:`jornada.fraud` never read it). Confirmed fraud is NOT what the two rules look for — the
shares are :class:`GroundTruth` parameters (defaults in brackets):

* legit order — from near home (a few km, inside the home state), the customer's own device;
* honest surprises the rules flag anyway (their false positives): **travellers** [0.6 % of the
  honest orders] order from another state (the same cities fraudsters use, abroad excepted) on
  their habitual device; **device changers** [4 % of the customers] switch to a new phone after
  2..7 orders, and keep using it — it becomes habitual once it has more orders than the old one;
* ``localizacao`` [40 % of frauds] — from a place outside SP/MG/RJ (another state or abroad, see
  ``catalog.FRAUD_PLACES``), with the customer's own device (the account was taken over);
* ``dispositivo`` [40 %] — from home, but on a device that is not the customer's (only for
  customers with earlier orders: a first order has no device history). The fraudster's device is
  fixed per customer, and sometimes the fraudster comes back for the customer's next order — the
  cases that tell the device-rule variants apart;
* ``conta_invadida`` [20 %] — account takeover from the customer's own area AND device: neither
  rule can see it (their false negatives). What gives it away is the basket (2..5 products from
  the dearest fifth of the catalogue), the hour (history: 01:00–04:59 Brasília, when the shop is
  quiet) and, in the stream, a burst of 1..3 more orders on the account within seconds.

Labels arrive later: ``confirmada_em`` is 2..40 days after the sale in the history (never after
``now``), 2..29 days in the stream.

Modules: ``params`` (sizes, validation, the reference now), ``traits`` (what a customer's id
decides), ``customers``, ``history`` (arrays + COPY), ``stream``. The original course's row-by-row
load lives beside the benchmarks (``benchmarks/row_by_row.py``), which is all it is for.
"""

from __future__ import annotations

from .params import (  # noqa: F401
    DEFAULT_TRUTH, GroundTruth, MAX_COUNT, SIZE_PROFILES, _is_number, _naive_utc, resolve_profile, shop_clock,
    utcnow, validate,
)
from .traits import (  # noqa: F401
    _CPF_W1, GEOHASH_PRECISION, _CITY_DDD, _CPF_W2, _DEVICES, _DEVICE_CUM, _KM_PER_DEG, _M64,
    _fraud_points, _habitual_index, _jitter, _mix64, _scatter, _unit, activity_weight,
    cpf_from_base, ddd_of, format_cpf, fraud_device, habitual_device, is_valid_cpf, phone_of,
    DEVICE_CHANGE_AFTER, current_device, device_change_after, new_device,
)
from .customers import (  # noqa: F401
    CUSTOMER_COLUMNS, _AGE_BAND_P, _AGE_RANGES, _PREFIX, _TAG_CUSTOMERS, _TAG_HISTORY,
    _TAG_IDS, _TAG_STREAM, _faker, _years_before, generate_customers, new_customer_ids,
)
from .history import (  # noqa: F401
    DEVICE, LEGIT, LOCATION, ORDER_RADIUS_KM, REPEAT_SHARE, TAKEOVER, TIPO_FRAUDE,
    BRT_OFFSET_S, EXPENSIVE_QUANTILE, TAKEOVER_HOURS, TAKEOVER_ITEMS, _device_split, _time_of_day, _BAND_EDGES,
    _CSV_SPECIAL, _HISTORY_FORMAT, _ITEMS_P, _POW10, _PROFILE_KEYS, _QTDE_P,
    _SMALL_INTS, _TS_END_US, _TS_MIN_US, _TWO_DIGITS, _age_at, _build_orders,
    _choose_kinds, _copy_df, _csv_text, _customer_arrays, _digits, _fmt_auditoria,
    _fmt_fraudes, _fmt_itens, _fmt_pedidos, _group_rank, _money, _product_pools,
    _profile_codes, _progress, _read_customers, _read_products, _reserve_order_ids,
    _sample_items, _stats, _text_bytes, _ts, _ts_bytes, catalogue_products,
    generate_history, load_customers, load_history,
)
from .stream import (  # noqa: F401
    BURST, BURST_GAP, STREAM_BATCH, _SQL_AUDIT, _SQL_ENDERECO, _SQL_ITEM, _SQL_LABEL, _SQL_PEDIDO, _SQL_PESSOA,
    _StopOnSigint, _StreamSource, _dec, _insert_order, run_stream,
)
