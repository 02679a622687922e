//! One Parquet table of one capture: rows appended column by column, a row group written
//! every [`ROW_GROUP_ROWS`] rows, one file per day (`TABLE/day=YYYY-MM-DD/capture=ID/
//! part-0.parquet`) so that a query can prune by day and capture.

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, NullBufferBuilder, StringArray, TimestampMicrosecondBuilder,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
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
    /// LZ4_RAW: about a quarter smaller than Snappy on CTI traffic, as fast to write; read
    /// by DuckDB, pyarrow and Spark 3.3 or later, not by older readers.
    Lz4,
    /// None: a little faster, several times the size (the `fields` JSON dominates).
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

/// Bytes of one string column after which its row group is written, however few rows it
/// has, so that memory stays bounded and the column within its 32-bit offsets whatever the
/// values: a value is at most a message's JSON (a message is at most 64 KiB, its JSON a few
/// times that). A row group of the `fields` JSON is about 9 MB on synth's traffic.
const TEXT_BYTES: usize = 256 << 20;

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

/// A string column being built: the bytes of its values one after the other, where each
/// ends, and which are null. The writer of a value appends its bytes in place
/// ([`Table::text_with`]), so that a long value (the `fields` JSON) is written once, not
/// built elsewhere and copied.
struct Strings {
    values: Vec<u8>,
    /// Where each value ends in `values` (offset 0 first).
    ends: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Strings {
    fn with_capacity(rows: usize, bytes: usize) -> Self {
        let mut ends = Vec::with_capacity(rows + 1);
        ends.push(0);
        Strings { values: Vec::with_capacity(bytes), ends, nulls: NullBufferBuilder::new(rows) }
    }

    /// The column so far, and a new one with room for as much. The bytes are checked to be
    /// UTF-8 here, once per row group (every writer writes UTF-8: string slices, and JSON
    /// whose text values are converted lossily); a row group holds less than 2 GiB of a
    /// column (the offsets are 32-bit), which [`Table::end_row`] sees to.
    fn finish(&mut self, rows: usize) -> Result<StringArray, String> {
        let bytes = self.values.len();
        let done = std::mem::replace(self, Strings::with_capacity(rows, bytes + bytes / 8));
        let Strings { values, ends, mut nulls } = done;
        let offsets = OffsetBuffer::new(ScalarBuffer::from(ends));
        StringArray::try_new(offsets, Buffer::from_vec(values), nulls.finish()).map_err(|e| e.to_string())
    }
}

enum Builder {
    Time(TimestampMicrosecondBuilder),
    Int(Int64Builder),
    Text(Strings),
    Bool(BooleanBuilder),
}

impl Builder {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Time => Builder::Time(TimestampMicrosecondBuilder::new().with_timezone("UTC")),
            Kind::Int => Builder::Int(Int64Builder::new()),
            Kind::Text => Builder::Text(Strings::with_capacity(ROW_GROUP_ROWS, 0)),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
        }
    }

    /// The column so far; the builder starts again with room for as much, so that the
    /// next row group grows no buffer.
    fn finish(&mut self) -> Result<ArrayRef, String> {
        let rows = ROW_GROUP_ROWS;
        Ok(match self {
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
            Builder::Text(b) => Arc::new(b.finish(rows)?),
            Builder::Bool(b) => {
                let a = Arc::new(b.finish());
                *b = BooleanBuilder::with_capacity(rows);
                a
            }
        })
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
    /// A string column of the current row's part holds `text_bytes` ([`TEXT_BYTES`]).
    text_full: bool,
    text_bytes: usize,
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
            text_full: false,
            text_bytes: TEXT_BYTES,
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
            Some(s) => {
                b.values.extend_from_slice(s.as_bytes());
                b.nulls.append_non_null();
            }
            None => b.nulls.append_null(),
        }
        b.ends.push(b.values.len() as i32);
        self.text_full |= b.values.len() >= self.text_bytes;
    }

    /// A string value written in place by `write`, which appends UTF-8 to the buffer it is
    /// given (and nothing else: what is there already belongs to the rows before).
    #[inline]
    pub fn text_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let Builder::Text(b) = self.next() else { panic!("column type: text") };
        write(&mut b.values);
        b.nulls.append_non_null();
        b.ends.push(b.values.len() as i32);
        self.text_full |= b.values.len() >= self.text_bytes;
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
        // A row group is written when it has its rows, or sooner when a string column holds
        // [`TEXT_BYTES`].
        if p.rows >= ROW_GROUP_ROWS || std::mem::take(&mut self.text_full) {
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
    let arrays: Vec<ArrayRef> =
        p.cols.iter_mut().map(Builder::finish).collect::<Result<_, _>>().map_err(|e| werr(&p.path, e))?;
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| werr(&p.path, e))?;
    p.writer.write(&batch).map_err(|e| werr(&p.path, e))?;
    p.writer.flush().map_err(|e| werr(&p.path, e))?;
    p.rows = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    static LONG: TableDef = TableDef {
        name: "long",
        doc: "",
        columns: &[
            Column { name: "n", kind: Kind::Int, required: true, doc: "" },
            Column { name: "s", kind: Kind::Text, required: false, doc: "" },
            Column { name: "json", kind: Kind::Text, required: true, doc: "" },
        ],
        plain: &["json"],
        no_statistics: &[],
    };

    #[test]
    fn a_row_group_is_written_early_when_a_string_column_holds_its_limit_and_values_read_back() {
        let dir = std::env::temp_dir().join(format!("ctiscope-table-{}", std::process::id()));
        let mut t = Table::new(&LONG, &dir, "c0", Codec::Snappy);
        t.text_bytes = 10_000;
        let value = |i: usize| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "é".repeat(500));
        for i in 0..100 {
            t.begin_row(0).unwrap();
            t.int(Some(i as i64));
            t.text((i % 3 != 0).then_some("x"));
            t.text_with(|b| b.extend_from_slice(value(i).as_bytes()));
            t.end_row().unwrap();
        }
        let files = t.finish(0).unwrap();
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join(&files[0])).unwrap()).unwrap();
        // About 1 KB a row: a row group every 10 rows, not one of 100.
        assert_eq!(r.metadata().num_row_groups(), 10);
        let mut i = 0;
        for b in r.build().unwrap() {
            let b = b.unwrap();
            let n = b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
            let s = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            let j = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
            for k in 0..b.num_rows() {
                assert_eq!(n.value(k), i as i64);
                assert_eq!(s.is_null(k), i % 3 == 0);
                assert_eq!(j.value(k), value(i));
                i += 1;
            }
        }
        assert_eq!(i, 100);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
