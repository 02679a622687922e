"""The fleet queries (docs/fleet-queries.sql) over a folder of `ctiscope export` tables, on
DuckDB or on Spark SQL, with results in one comparable form (JSON).

    python tools/fleet_queries.py duckdb DIR [--queries FILE] [--results OUT.json]
    python tools/fleet_queries.py spark DIR [--master local[2]] [--queries FILE] [--results OUT.json]

Without --results the answers are printed. tools/spark_export.py calls `spark_results`
after exporting; tests/export.rs compares the two engines' answers.
"""
import argparse
import datetime
import decimal
import json
import os
import re
import sys

TABLES = ["messages", "requests", "findings", "sessions", "calls", "agent_states", "gaps"]
DEFAULT_QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "fleet-queries.sql")


def load_queries(path=DEFAULT_QUERIES):
    """[(name, sql)] in file order: each query starts at its `-- name:` line."""
    text = open(path).read()
    parts = re.split(r"^-- name: *(\S+) *$", text, flags=re.M)
    queries = []
    for name, body in zip(parts[1::2], parts[2::2]):
        sql = "\n".join(l for l in body.splitlines() if not l.lstrip().startswith("--")).strip().rstrip(";")
        queries.append((name, sql))
    return queries


def normal(v):
    """A value as both engines' answers compare: times as ISO text in UTC."""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return int(v) if v == int(v) else float(v)
    return v


def duckdb_results(out, queries):
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # Spark's name for reading one member of a JSON text.
    con.execute("CREATE MACRO get_json_object(j, p) AS json_extract_string(j, p)")
    for t in TABLES:
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{out}/{t}/*/*/*.parquet', hive_partitioning=true)"
        )
    return {name: [[normal(v) for v in row] for row in con.execute(sql).fetchall()] for name, sql in queries}


def spark_session(master=None, name="ctiscope-fleet"):
    from pyspark.sql import SparkSession

    b = SparkSession.builder.appName(name)
    if master:
        b = b.master(master)
    # Times are UTC; small local jobs need few shuffle partitions.
    b = b.config("spark.sql.session.timeZone", "UTC").config("spark.sql.shuffle.partitions", "4")
    b = b.config("spark.ui.enabled", "false")
    return b.getOrCreate()


def spark_results(spark, out, queries):
    for t in TABLES:
        spark.read.parquet(os.path.join(out, t)).createOrReplaceTempView(t)
    return {name: [[normal(v) for v in row] for row in spark.sql(sql).collect()] for name, sql in queries}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("engine", choices=["duckdb", "spark"])
    p.add_argument("dir")
    p.add_argument("--queries", default=DEFAULT_QUERIES)
    p.add_argument("--master", default=None)
    p.add_argument("--results")
    a = p.parse_args()
    queries = load_queries(a.queries)
    if a.engine == "duckdb":
        res = duckdb_results(os.path.abspath(a.dir), queries)
    else:
        spark = spark_session(a.master)
        res = spark_results(spark, os.path.abspath(a.dir), queries)
        spark.stop()
    if a.results:
        with open(a.results, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    else:
        for name, rows in res.items():
            print(f"-- {name}")
            for r in rows:
                print(r)


if __name__ == "__main__":
    sys.exit(main())
