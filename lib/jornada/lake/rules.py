"""The shop's two fraud rules over order features, in Spark: the same flags as :mod:`jornada.fraud`.

    >>> flagged = rule_flags(order_features(...))    # + rule_location, rule_device, rule_any, reasons

* ``rule_location`` — the order's geohash is outside SP, MG and RJ (abroad counts as outside; an
  order without a geohash is never flagged), as :func:`jornada.fraud.location_flags`;
* ``rule_device`` — the order's device differs from the customer's habitual one as of the order
  (``device_differs`` of :mod:`jornada.lake.features`), as
  :func:`jornada.fraud.device_flags` with ``variant="habitual"``;
* ``rule_any`` — either; ``reasons`` — the array of reason codes that fired (``location``,
  ``device``), what an alert shows.

Only per-row expressions: the same function runs on a batch of gold and on a stream.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..fraud import HOME_STATES

RULE_COLUMNS = ("rule_location", "rule_device", "rule_any")
REASONS = {"rule_location": "location", "rule_device": "device"}


def location_rule(geohash: Column, uf: Column) -> Column:
    """True where a known geohash's state is not SP, MG or RJ (null UF = abroad: outside)."""
    known = geohash.isNotNull() & (F.trim(geohash) != "")
    home = F.coalesce(uf.isin(*sorted(HOME_STATES)), F.lit(False))
    return known & ~home


def reasons(*flags: str) -> Column:
    """Array of the reason codes whose flag column is true (empty when none fired)."""
    codes = [F.when(F.col(f), F.lit(REASONS.get(f, f))) for f in flags]
    return F.filter(F.array(*codes), lambda c: c.isNotNull())


def rule_flags(features: DataFrame) -> DataFrame:
    """``features`` plus rule_location, rule_device, rule_any and reasons."""
    return (features
            .withColumn("rule_location", location_rule(F.col("geohash"), F.col("uf")))
            .withColumn("rule_device", F.coalesce(F.col("device_differs"), F.lit(False)))
            .withColumn("rule_any", F.col("rule_location") | F.col("rule_device"))
            .withColumn("reasons", reasons("rule_location", "rule_device")))
