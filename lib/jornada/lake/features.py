"""Order-level fraud features in Spark: one row per order, computed from earlier orders only.

    >>> from jornada.lake.features import order_features, with_labels
    >>> feats = order_features(pedidos, itens_pedidos, auditoria_pedidos, enderecos)
    >>> labelled = with_labels(feats, fraudes_confirmadas)

The inputs are Spark DataFrames with the OLTP columns (lib/jornada/sql/oltp_schema.sql) — the
silver Delta tables, or the OLTP tables read with pandas and handed to ``spark.createDataFrame``.
Extra columns (CDC metadata such as an LSN) are ignored; money may be numeric or double.

What each output column means (:data:`FEATURE_COLUMNS` lists them in order):

* ``id_pedido``, ``id_pessoa``, ``dt_venda`` — the order; ``valor_total`` (double, R$);
  ``n_items`` — item lines (distinct products), ``units`` — sum of ``qtde``; ``hour`` — hour of
  ``dt_venda`` (0–23, the session's time zone, UTC in the course);
* ``geohash``, ``dispositivo`` — from the order's audit row (null when it has none);
  ``uf`` — the state containing the geohash cell's centre, computed by :mod:`jornada.geo` inside a
  pandas UDF (null outside Brazil or without geohash): exactly the library's answer;
* ``home_uf``, ``home_geohash`` — the customer's address (``enderecos``);
  ``distance_home_km`` — great-circle distance between the two geohash cell centres;
* ``habitual_device`` — the customer's habitual device **as of the order**, from strictly earlier
  orders (same definition as the ``habitual`` device rule of :mod:`jornada.fraud`): the most
  frequent device among earlier orders; on a tie the device that reached that count first keeps
  the title (the habit changes only when another device strictly overtakes it). Null for a
  customer's first order, so ``device_differs`` is False there: no history, no device signal.
  Orders without a device (no audit row) count as orders but not as uses of any device;
* ``device_differs`` — the order's device is not the habitual one (False without history or
  without a device): the device rule;
* ``seconds_since_prev`` — since the customer's previous order (null for the first);
  ``n_prev_orders`` — how many orders the customer made before; ``prev_mean_amount`` — the mean
  ``valor_total`` of those (null for the first).

"Earlier" is the order the rules read history in: by customer, sale time, then order id. Nothing
here reads ``fraudes_confirmadas``: labels are joined apart, by :func:`with_labels`, for training
and evaluation only.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

FEATURE_COLUMNS = (
    "id_pedido", "id_pessoa", "dt_venda", "valor_total", "n_items", "units", "hour",
    "geohash", "uf", "home_uf", "home_geohash", "distance_home_km", "dispositivo",
    "habitual_device", "device_differs", "seconds_since_prev", "n_prev_orders",
    "prev_mean_amount",
)
LABEL_COLUMNS = ("is_fraud", "tipo_fraude", "confirmada_em")
EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

_POINT = "struct<uf:string,lat:double,lon:double>"


def _geohash_points(cells):
    """pandas Series of geohashes → DataFrame (uf, lat, lon) of the cell centres; nulls stay null.

    The library answers: :func:`jornada.geo.decode_many` and :func:`jornada.geo.states_of`. Each
    distinct cell is looked up once (customers order from the same places again).
    """
    import numpy as np
    import pandas as pd

    from .. import geo

    clean = cells.astype("string").str.strip().str.lower()
    known = (clean.notna() & (clean != "")).to_numpy()
    uf = np.full(len(cells), None, dtype=object)
    lat = np.full(len(cells), np.nan)
    lon = np.full(len(cells), np.nan)
    if known.any():
        codes, uniques = pd.factorize(clean[known].astype(object))
        ulat, ulon = geo.decode_many(np.asarray(uniques, dtype=object))
        uuf = np.asarray(geo.states_of(ulat, ulon), dtype=object)
        uf[known], lat[known], lon[known] = uuf[codes], ulat[codes], ulon[codes]
    return pd.DataFrame({"uf": uf, "lat": lat, "lon": lon})


def geohash_point(col: Column | str) -> Column:
    """Column of struct(uf, lat, lon) for a geohash column (a pandas UDF around jornada.geo)."""
    from pyspark.sql.functions import pandas_udf

    udf = pandas_udf(_geohash_points, _POINT)
    return udf(F.col(col) if isinstance(col, str) else col)


_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"
# One bisection step per bit, alternating longitude (even bits) and latitude (odd): the geohash
# definition, as native Spark expressions (no Python in the query). The midpoints of dyadic
# intervals are exact in double precision, so the centre is jornada.geo.decode_many's, bit for bit.
_DECODE = (
    "aggregate(sequence(0, 5 * length({g}) - 1),"
    " named_struct('la0', -90D, 'la1', 90D, 'lo0', -180D, 'lo1', 180D),"
    " (acc, b) -> CASE"
    " WHEN b % 2 = 0 AND shiftright(instr('{a}', substr({g}, div(b, 5) + 1, 1)) - 1, 4 - b % 5) & 1 = 1"
    "  THEN named_struct('la0', acc.la0, 'la1', acc.la1, 'lo0', (acc.lo0 + acc.lo1) / 2, 'lo1', acc.lo1)"
    " WHEN b % 2 = 0"
    "  THEN named_struct('la0', acc.la0, 'la1', acc.la1, 'lo0', acc.lo0, 'lo1', (acc.lo0 + acc.lo1) / 2)"
    " WHEN shiftright(instr('{a}', substr({g}, div(b, 5) + 1, 1)) - 1, 4 - b % 5) & 1 = 1"
    "  THEN named_struct('la0', (acc.la0 + acc.la1) / 2, 'la1', acc.la1, 'lo0', acc.lo0, 'lo1', acc.lo1)"
    " ELSE named_struct('la0', acc.la0, 'la1', (acc.la0 + acc.la1) / 2, 'lo0', acc.lo0, 'lo1', acc.lo1)"
    " END,"
    " acc -> named_struct('lat', (acc.la0 + acc.la1) / 2, 'lon', (acc.lo0 + acc.lo1) / 2))")


def geohash_centre(col: str) -> Column:
    """struct(lat, lon) of a geohash column's cell centre in native Spark expressions (null for
    a null or empty geohash): what :func:`geohash_point` gives without the UF, with no UDF."""
    clean = f"lower(trim({col}))"
    return F.when(F.length(F.trim(F.col(col))) > 0,
                  F.expr(_DECODE.format(g=clean, a=_ALPHABET)))


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """Great-circle distance in km (null when a point is null)."""
    p1, p2 = F.radians(lat1), F.radians(lat2)
    dp, dl = p2 - p1, F.radians(lon2) - F.radians(lon1)
    a = F.pow(F.sin(dp / 2), 2) + F.cos(p1) * F.cos(p2) * F.pow(F.sin(dl / 2), 2)
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.least(F.lit(1.0), F.sqrt(a)))


def _orders(pedidos: DataFrame, itens_pedidos: DataFrame | None, auditoria_pedidos: DataFrame,
            enderecos: DataFrame) -> DataFrame:
    """One row per order with its items' counts, audit and home (left joins: nothing dropped)."""
    audit = auditoria_pedidos.select(F.col("id_pedido").cast("long").alias("id_pedido"),
                                     "dispositivo", "geohash")
    home = enderecos.select(F.col("id_pessoa").cast("long").alias("id_pessoa"),
                            F.col("uf").alias("home_uf"), F.col("geohash").alias("home_geohash"))
    orders = pedidos.select(F.col("id").cast("long").alias("id_pedido"),
                            F.col("id_pessoa").cast("long").alias("id_pessoa"),
                            F.col("dt_venda").cast("timestamp").alias("dt_venda"),
                            F.col("valor_total").cast("double").alias("valor_total"))
    if itens_pedidos is not None:
        items = (itens_pedidos.groupBy(F.col("id_pedido").cast("long").alias("id_pedido"))
                 .agg(F.count(F.lit(1)).alias("n_items"),
                      F.sum("qtde").cast("long").alias("units")))
        orders = orders.join(items, "id_pedido", "left").fillna({"n_items": 0, "units": 0})
    return orders.join(audit, "id_pedido", "left").join(home, "id_pessoa", "left")


def _history(orders: DataFrame) -> DataFrame:
    """The columns that read the customer's earlier orders (windows over strictly earlier rows)."""
    by_customer = Window.partitionBy("id_pessoa").orderBy("dt_venda", "id_pedido")
    before = by_customer.rowsBetween(Window.unboundedPreceding, -1)
    upto = by_customer.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    by_device = Window.partitionBy("id_pessoa", "dispositivo").orderBy("dt_venda", "id_pedido")
    # Same steps as jornada.fraud.device_flags("habitual"): count_incl = uses of this device so
    # far (this order included); a device becomes habitual when that count strictly beats every
    # earlier count (a "record"); the habitual device before an order is the last record's device.
    df = orders.withColumn(
        "_count_incl",
        F.when(F.col("dispositivo").isNotNull(), F.row_number().over(by_device)).otherwise(0))
    df = df.withColumn("_best_before", F.coalesce(F.max("_count_incl").over(before), F.lit(0)))
    df = df.withColumn("_leader", F.last(
        F.when(F.col("_count_incl") > F.col("_best_before"), F.col("dispositivo")),
        ignorenulls=True).over(upto))
    df = df.withColumn("habitual_device", F.lag("_leader").over(by_customer))
    prev_ts = F.lag("dt_venda").over(by_customer)
    return (df
            .withColumn("device_differs", F.coalesce(
                F.col("dispositivo") != F.col("habitual_device"), F.lit(False)))
            .withColumn("seconds_since_prev",
                        (F.unix_micros("dt_venda") - F.unix_micros(prev_ts)) / F.lit(1e6))
            .withColumn("n_prev_orders", F.count(F.lit(1)).over(before))
            .withColumn("prev_mean_amount", F.avg("valor_total").over(before))
            .drop("_count_incl", "_best_before"))


def order_features(pedidos: DataFrame, itens_pedidos: DataFrame, auditoria_pedidos: DataFrame,
                   enderecos: DataFrame) -> DataFrame:
    """One row per order of ``pedidos`` with :data:`FEATURE_COLUMNS` (see the module docstring).

    Lazy: nothing runs until the result is written or collected. Orders of customers without an
    address get null home columns and a null distance; the history columns still hold.
    """
    df = _history(_orders(pedidos, itens_pedidos, auditoria_pedidos, enderecos)).drop("_leader")
    df = (df.withColumn("_here", geohash_point("geohash"))
          .withColumn("_home", geohash_point("home_geohash"))
          .withColumn("uf", F.col("_here.uf"))
          .withColumn("distance_home_km", haversine_km(F.col("_here.lat"), F.col("_here.lon"),
                                                       F.col("_home.lat"), F.col("_home.lon")))
          .withColumn("hour", F.hour("dt_venda")))
    return df.select(*FEATURE_COLUMNS)


PROFILE_COLUMNS = ("id_pessoa", "home_uf", "home_geohash", "habitual_device", "n_orders",
                   "mean_amount", "last_order_at")


def customer_profiles(pedidos: DataFrame, auditoria_pedidos: DataFrame,
                      enderecos: DataFrame) -> DataFrame:
    """What a scorer must know about each customer before their next order (the static side of
    the real-time join): home, the habitual device after all their orders so far (same
    definition as ``habitual_device``), how many orders, their mean amount and the last one's
    time. Customers with an address and no order yet get a row without history.
    """
    hist = _history(_orders(pedidos, None, auditoria_pedidos, enderecos))
    last = Window.partitionBy("id_pessoa").orderBy(F.col("dt_venda").desc(),
                                                   F.col("id_pedido").desc())
    stats = (hist.withColumn("_n", F.row_number().over(last)).where("_n = 1")
             .select("id_pessoa", F.col("_leader").alias("habitual_device"),
                     (F.col("n_prev_orders") + 1).alias("n_orders"),
                     ((F.coalesce(F.col("prev_mean_amount"), F.lit(0.0)) * F.col("n_prev_orders")
                       + F.col("valor_total")) / (F.col("n_prev_orders") + 1)).alias("mean_amount"),
                     F.col("dt_venda").alias("last_order_at")))
    home = enderecos.select(F.col("id_pessoa").cast("long").alias("id_pessoa"),
                            F.col("uf").alias("home_uf"), F.col("geohash").alias("home_geohash"))
    return (home.join(stats, "id_pessoa", "full")
            .fillna({"n_orders": 0}).select(*PROFILE_COLUMNS))


def with_labels(features: DataFrame, fraudes_confirmadas: DataFrame) -> DataFrame:
    """``features`` plus the confirmed-fraud label of each order: is_fraud, tipo_fraude and
    confirmada_em (null and False for orders nobody confirmed as fraud).

    A label only exists from ``confirmada_em`` on: whoever trains on it must drop what was not yet
    confirmed at the training cut-off (:mod:`jornada.lake.model` does).
    """
    labels = fraudes_confirmadas.select(F.col("id_pedido").cast("long").alias("id_pedido"),
                                        "tipo_fraude",
                                        F.col("confirmada_em").cast("timestamp"))
    return (features.join(labels, "id_pedido", "left")
            .withColumn("is_fraud", F.col("tipo_fraude").isNotNull()))
