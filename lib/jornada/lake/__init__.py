"""The lakehouse (lessons 06-07): an S3 object store, Delta tables on it, Spark to process them.

- :mod:`jornada.s3` (a client module, below the stack): buckets and objects through the ``minio`` S3 client; endpoint,
  keys and region come from the settings, so the same code talks to SeaweedFS (native runtime)
  and MinIO (compose).
- :mod:`jornada.lake.spark`: the one SparkSession builder (S3A, Delta, small-machine defaults).
- :mod:`jornada.lake.delta_tools`: file counts of a table on S3, delta-rs readers with the
  settings' keys, the memory of the stack plus a Spark driver (lesson 06 and its checks).
"""
