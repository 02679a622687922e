//! One Parquet table of one capture: rows appended column by column, a row group written
//! every [`ROW_GROUP_ROWS`] rows, one file per day (`TABLE/day=YYYY-MM-DD/capture=ID/
//! part-0.parquet`) so that a query can prune by day and capture.

use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group: a row group is encoded and written when it fills, so a table holds
/// at most this many rows in memory, whatever the capture's size.
pub const ROW_GROUP_ROWS: usize = 16_384;

/// How the Parquet pages are compressed (`export --compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Snappy: what every engine reads (Spark, Hive, Trino, Athena, DuckDB, pyarrow).
    #[default]
    Snappy,
    /// LZ4_RAW: cheaper to write and read; read by DuckDB, pyarrow and Spark 3.3 or later,
    /// not by older readers.
    Lz4,
    /// None: fastest, about six times the size (the `fields` JSON dominates).
    Uncompressed,
}

impl Codec {
    fn parquet(self) -> Compression {
        match self {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::Uncompressed => Compression::UNCOMPRESSED,
        }
    }
}

/// A column's type in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// TIMESTAMP(MICROS, UTC).
    Time,
    /// INT64.
    Int,
    /// UTF-8 string.
    Text,
    /// BOOLEAN.
    Bool,
}

/// A column: its name, type, and what it holds (for `docs/export.md`).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// Always present.
    pub required: bool,
    pub doc: &'static str,
}

/// A table: its name and columns.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [Column],
    /// Columns written without a dictionary (long, mostly distinct values).
    pub plain: &'static [&'static str],
    /// Columns written without min/max statistics (long strings no query prunes on).
    pub no_statistics: &'static [&'static str],
}

impl TableDef {
    pub fn schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let ty = match c.kind {
                    Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    Kind::Int => DataType::Int64,
                    Kind::Text => DataType::Utf8,
                    Kind::Bool => DataType::Boolean,
                };
                Field::new(c.name, ty, !c.required)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }
}

enum Builder {
    Time(TimestampMicrosecondBuilder),
    Int(Int64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Time => Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::Int => Builder::Int(Int64Builder::new()),
            Kind::Text => Builder::Text(StringBuilder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
        }
    }

    /// The column so far; the builder starts again with room for as much, so that the
    /// next row group grows no buffer.
    fn finish(&mut self) -> ArrayRef {
        let rows = ROW_GROUP_ROWS;
        match self {
            Builder::Time(b) => {
                let a = Arc::new(b.finish());
                *b = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
                a
            }
            Builder::Int(b) => {
                let a = Arc::new(b.finish());
                *b = Int64Builder::with_capacity(rows);
                a
            }
            Builder::Text(b) => {
                let a = b.finish();
                let bytes = a.value_data().len();
                *b = StringBuilder::with_capacity(rows, bytes + bytes / 8);
                Arc::new(a)
            }
            Builder::Bool(b) => {
                let a = Arc::new(b.finish());
                *b = BooleanBuilder::with_capacity(rows);
                a
            }
        }
    }
}

/// An error writing a table: the file and what went wrong.
#[derive(Debug)]
pub struct WriteError(pub String);

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn werr(path: &Path, e: impl std::fmt::Display) -> WriteError {
    WriteError(format!("{}: {e}", path.display()))
}

/// The file of one day.
struct Part {
    path: PathBuf,
    writer: ArrowWriter<File>,
    cols: Vec<Builder>,
    rows: usize,
}

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// The day partition of a time: `2026-01-05` (UTC).
pub fn day(ts_ns: i64) -> String {
    day_name(ts_ns.div_euclid(NS_PER_DAY))
}

fn day_name(days: i64) -> String {
    let (y, m, d) = crate::time::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One table of one capture being written under `root`.
pub struct Table {
    pub def: &'static TableDef,
    schema: SchemaRef,
    root: PathBuf,
    capture: String,
    codec: Codec,
    /// The files, by day (days since 1970-01-01).
    parts: Vec<(i64, Part)>,
    /// The current row's part, in `parts`.
    current: usize,
    col: usize,
    pub rows: u64,
}

impl Table {
    /// Write `def` for capture `capture` under `root` (`root/NAME/day=.../capture=.../`),
    /// its pages compressed with `codec`.
    pub fn new(def: &'static TableDef, root: &Path, capture: &str, codec: Codec) -> Self {
        Table {
            def,
            schema: def.schema(),
            root: root.to_path_buf(),
            capture: capture.to_string(),
            codec,
            parts: Vec::new(),
            current: 0,
            col: 0,
            rows: 0,
        }
    }

    fn open(&self, days: i64) -> Result<Part, WriteError> {
        let day = day_name(days);
        let dir = self
            .root
            .join(self.def.name)
            .join(format!("day={day}"))
            .join(format!("capture={}", self.capture));
        std::fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
        let path = dir.join("part-0.parquet");
        let file = File::create(&path).map_err(|e| werr(&path, e))?;
        let mut props = WriterProperties::builder()
            .set_compression(self.codec.parquet())
            .set_max_row_group_size(ROW_GROUP_ROWS)
            .set_created_by(format!("ctiscope {}", env!("CARGO_PKG_VERSION")));
        for c in self.def.plain {
            props = props.set_column_dictionary_enabled(ColumnPath::from(*c), false);
        }
        for c in self.def.no_statistics {
            props = props.set_column_statistics_enabled(ColumnPath::from(*c), EnabledStatistics::None);
        }
        let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(props.build()))
            .map_err(|e| werr(&path, e))?;
        let cols = self.def.columns.iter().map(|c| Builder::new(c.kind)).collect();
        Ok(Part { path, writer, cols, rows: 0 })
    }

    /// Start a row whose time (`ts_ns`) chooses its day. Every column is then given, in
    /// order, and [`Table::end_row`] closes it.
    #[inline]
    pub fn begin_row(&mut self, ts_ns: i64) -> Result<(), WriteError> {
        let d = ts_ns.div_euclid(NS_PER_DAY);
        if self.parts.get(self.current).is_none_or(|(x, _)| *x != d) {
            self.current = match self.parts.iter().position(|(x, _)| *x == d) {
                Some(i) => i,
                None => {
                    let p = self.open(d)?;
                    self.parts.push((d, p));
                    self.parts.len() - 1
                }
            };
        }
        self.col = 0;
        Ok(())
    }

    #[inline]
    fn next(&mut self) -> &mut Builder {
        let b = &mut self.parts[self.current].1.cols[self.col];
        self.col += 1;
        b
    }

    #[inline]
    pub fn time(&mut self, ts_ns: Option<i64>) {
        let Builder::Time(b) = self.next() else { panic!("column type: time") };
        b.append_option(ts_ns.map(|t| t.div_euclid(1000)));
    }

    #[inline]
    pub fn int(&mut self, v: Option<i64>) {
        let Builder::Int(b) = self.next() else { panic!("column type: int") };
        b.append_option(v);
    }

    #[inline]
    pub fn text(&mut self, v: Option<&str>) {
        let Builder::Text(b) = self.next() else { panic!("column type: text") };
        match v {
            Some(s) => b.append_value(s),
            None => b.append_null(),
        }
    }

    #[inline]
    pub fn bool(&mut self, v: bool) {
        let Builder::Bool(b) = self.next() else { panic!("column type: bool") };
        b.append_value(v);
    }

    /// Close the row; a full row group is written.
    pub fn end_row(&mut self) -> Result<(), WriteError> {
        assert_eq!(self.col, self.def.columns.len(), "every column of {} is given", self.def.name);
        self.rows += 1;
        let p = &mut self.parts[self.current].1;
        p.rows += 1;
        if p.rows >= ROW_GROUP_ROWS {
            flush(&self.schema, p)?;
        }
        Ok(())
    }

    /// Write what is left and close the files; a table without rows is written as one empty
    /// file of the day of `empty_ts`, so that every table of every capture has a file. Returns the
    /// files written, relative to the root.
    pub fn finish(mut self, empty_ts: i64) -> Result<Vec<PathBuf>, WriteError> {
        if self.parts.is_empty() {
            let d = empty_ts.div_euclid(NS_PER_DAY);
            let p = self.open(d)?;
            self.parts.push((d, p));
        }
        let mut files = Vec::new();
        for (_, mut p) in std::mem::take(&mut self.parts) {
            flush(&self.schema, &mut p)?;
            p.writer.close().map_err(|e| werr(&p.path, e))?;
            let rel = p.path.strip_prefix(&self.root).map(Path::to_path_buf).unwrap_or(p.path);
            files.push(rel);
        }
        Ok(files)
    }
}

/// Write the rows of `p` as a row group.
fn flush(schema: &SchemaRef, p: &mut Part) -> Result<(), WriteError> {
    if p.rows == 0 {
        return Ok(());
    }
    let arrays: Vec<ArrayRef> = p.cols.iter_mut().map(Builder::finish).collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| werr(&p.path, e))?;
    p.writer.write(&batch).map_err(|e| werr(&p.path, e))?;
    p.writer.flush().map_err(|e| werr(&p.path, e))?;
    p.rows = 0;
    Ok(())
}
