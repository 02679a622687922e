"""A Spark job that exports many captures with `ctiscope export` into one dataset: the
captures are spread over the executors, each runs `ctiscope export -o DIR` on its share
(DIR on storage every executor writes to: a shared or network file system), and the driver
reports what each exported, then can run the fleet queries (docs/fleet-queries.sql) on the
result with Spark SQL.

    spark-submit tools/spark_export.py --output /data/cti-tables \
        --ctiscope /opt/ctiscope/bin/ctiscope --partitions 64 --list captures.txt

    python tools/spark_export.py --master 'local[2]' --output DIR CAPTURE...   (local mode)

A line of the list may be a glob pattern (`/data/pg*/2026-01-0?/*.pcap*`, `**` for any
depth): ctiscope expands it on the executor that gets it, which then exports every capture
it matches. Each executor needs the ctiscope binary (--ctiscope, or on its PATH) and read
access to the captures. A capture the manifest already lists is skipped, so the job can be
run again over a growing list. Exit status: 0 when every capture was exported (or was
already), 1 when some could not be (each is named).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleet_queries  # noqa: E402


def export_share(ctiscope, out, extra):
    """The function run on an executor for one partition of the capture list."""

    def run(captures):
        captures = list(captures)
        if not captures:
            return
        cmd = [ctiscope, "export", "-o", out, "-j", "1", "--progress"] + extra + captures
        p = subprocess.run(cmd, capture_output=True, text=True)
        yield {"captures": captures, "status": p.returncode, "stderr": p.stderr}

    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("captures", nargs="*", help="capture files (as the executors see them)")
    p.add_argument("--list", help="a file with one capture path per line")
    p.add_argument("--output", required=True, help="the dataset folder (shared by every executor)")
    p.add_argument("--ctiscope", default="ctiscope", help="the ctiscope binary on the executors")
    p.add_argument("--partitions", type=int, default=0, help="shares of the list (default: Spark's parallelism)")
    p.add_argument("--master", default=None, help="Spark master (spark-submit gives it otherwise)")
    p.add_argument("--force", action="store_true", help="export captures the manifest lists again")
    p.add_argument("--queries", default=None, help="then run these fleet queries with Spark SQL")
    p.add_argument("--results", default=None, help="write the queries' answers here (JSON)")
    a = p.parse_args()
    captures = list(a.captures)
    if a.list:
        captures += [l.strip() for l in open(a.list) if l.strip() and not l.startswith("#")]
    if not captures:
        p.error("no capture given")
    out = os.path.abspath(a.output)
    os.makedirs(out, exist_ok=True)
    spark = fleet_queries.spark_session(a.master, "ctiscope-export")
    sc = spark.sparkContext
    n = a.partitions or sc.defaultParallelism
    extra = ["--force"] if a.force else []
    results = sc.parallelize(captures, max(1, min(n, len(captures)))).mapPartitions(
        export_share(a.ctiscope, out, extra)
    ).collect()
    failed = 0
    for r in results:
        for line in r["stderr"].splitlines():
            print(line, file=sys.stderr)
        if r["status"] != 0:
            failed += 1
    print(f"ctiscope export: {len(captures)} captures in {len(results)} shares, {failed} shares with failures",
          file=sys.stderr)
    if a.queries or a.results:
        res = fleet_queries.spark_results(spark, out, fleet_queries.load_queries(a.queries or fleet_queries.DEFAULT_QUERIES))
        if a.results:
            with open(a.results, "w") as f:
                json.dump(res, f, indent=1, sort_keys=True)
        else:
            print(json.dumps(res, indent=1))
    spark.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
