"""Deterministic data generators for the Liga Sudoers OLTP database.

Three ways to fill the shop, as in the original course, without its bugs:

* :func:`load_customers` — new customers with a home address, in bulk (COPY, one transaction);
* :func:`load_history` — past orders (1..max_days days before a reference ``now``) for EXISTING
  customers and products, ~1 % fraud, bulk-loaded with COPY in one transaction;
* :func:`run_stream` — current-time orders, one transaction per order, new customers on the way,
  ~5 % fraud.

Determinism: every random choice comes from a ``numpy.random.Generator`` (and a Faker instance)
seeded from ``seed``; dates come from the reference ``now``, never from the wall clock. So the same
seed + same ``now`` + same database state gives identical rows. Per-customer traits that must stay
the same across loads (habitual device, phone number, how often they shop, the device a fraudster
uses on their account) are derived from the customer id with a fixed hash, not drawn.

How fraud is simulated (the ground truth goes to ``fraudes_confirmadas``; the rules in
:mod:`jornada.fraud` never read it):

* legit order — from near home (a few km, inside the home state), habitual device;
* ``localizacao`` — from a place outside SP/MG/RJ (another state or abroad, see
  ``catalog.FRAUD_PLACES``), with the customer's habitual device (the account was taken over);
* ``dispositivo`` — from home, but on a device that is not the habitual one (only for customers
  with earlier orders: a first order has no device history). The fraudster's device is fixed per
  customer, and sometimes the fraudster comes back for the customer's next order — the cases that
  tell the device-rule variants apart.

Modules: ``params`` (sizes, validation, the reference now), ``traits`` (what a customer's id
decides), ``customers``, ``history`` (arrays + COPY), ``stream``. The original course's row-by-row
load lives beside the benchmarks (``benchmarks/row_by_row.py``), which is all it is for.
"""

from __future__ import annotations

from .params import (  # noqa: F401
    MAX_COUNT, SIZE_PROFILES, _is_number, _naive_utc, resolve_profile, utcnow,
    validate,
)
from .traits import (  # noqa: F401
    _CPF_W1, GEOHASH_PRECISION, _CITY_DDD, _CPF_W2, _DEVICES, _DEVICE_CUM, _KM_PER_DEG, _M64,
    _fraud_points, _habitual_index, _jitter, _mix64, _scatter, _unit, activity_weight,
    cpf_from_base, ddd_of, format_cpf, fraud_device, habitual_device, is_valid_cpf, phone_of,
)
from .customers import (  # noqa: F401
    CUSTOMER_COLUMNS, _AGE_BAND_P, _AGE_RANGES, _PREFIX, _TAG_CUSTOMERS, _TAG_HISTORY,
    _TAG_IDS, _TAG_STREAM, _faker, _years_before, generate_customers, new_customer_ids,
)
from .history import (  # noqa: F401
    DEVICE, LEGIT, LOCATION, ORDER_RADIUS_KM, REPEAT_SHARE, TIPO_FRAUDE, _BAND_EDGES,
    _CSV_SPECIAL, _HISTORY_FORMAT, _ITEMS_P, _POW10, _PROFILE_KEYS, _QTDE_P,
    _SMALL_INTS, _TS_END_US, _TS_MIN_US, _TWO_DIGITS, _age_at, _build_orders,
    _choose_kinds, _copy_df, _csv_text, _customer_arrays, _digits, _fmt_auditoria,
    _fmt_fraudes, _fmt_itens, _fmt_pedidos, _group_rank, _money, _product_pools,
    _profile_codes, _progress, _read_customers, _read_products, _reserve_order_ids,
    _sample_items, _stats, _text_bytes, _ts, _ts_bytes, catalogue_products,
    generate_history, load_customers, load_history,
)
from .stream import (  # noqa: F401
    STREAM_BATCH, _SQL_AUDIT, _SQL_ENDERECO, _SQL_ITEM, _SQL_LABEL, _SQL_PEDIDO, _SQL_PESSOA,
    _StopOnSigint, _StreamSource, _dec, _insert_order, run_stream,
)
