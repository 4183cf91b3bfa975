//! Reading, validating and requantizing GGUF files.
//!
//! GGUF (ggml's container: a header of typed metadata, a table of tensor infos, then the
//! tensor data) is parsed with candle's [`gguf_file::Content`]. Candle checks the header's
//! counts and string lengths, but a model constructor fed a file whose metadata or tensor
//! table is inconsistent can still fail deep inside, or divide by zero. Everything here
//! therefore validates *before* a model is built: every tensor's byte range must lie inside
//! the file, shapes must be whole quantization blocks, and the architecture-specific
//! checks in `arch/` verify hyper-parameters and tensor shapes against each other.
//!
//! ## Requantization
//! Candle runs Q4_1, Q5_0 and Q5_1 matrix products on a scalar path (no AVX/NEON/simd128
//! kernels), while Q8_0 has SIMD kernels everywhere. Dequantizing those tensors and
//! quantizing them again to Q8_0 loses nothing that matters (Q8_0 holds every Q4/Q5 value
//! of a block to within one part in 127 of the block's range) and was measured at ≈5×
//! prefill and ≈1.9× decode natively, with identical greedy output on SmolLM2-135M. Q4_0 is
//! *not* a target: quantizing twice to 4 bits degraded answers. K-quants need rows that are
//! multiples of 256, which small models' 576-wide rows are not.
//!
//! [`requantize`] writes a new GGUF (for `sotto requantize`); loading with
//! [`LoadOptions::requantize_to_q8_0`](super::LoadOptions::requantize_to_q8_0) does the same
//! in memory without re-serialising the untouched tensors.

use std::collections::HashMap;
use std::io::{Cursor, Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::{self, Content, TensorInfo, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

use crate::error::{Error, Result};

/// Quantization types that are rewritten to Q8_0 by [`requantize`] and on load.
pub const REQUANTIZED_TYPES: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// Alignment candle's GGUF writer uses for tensor data.
const WRITER_ALIGNMENT: u32 = 32;

pub(crate) fn format_err(detail: impl std::fmt::Display) -> Error {
    Error::model("gguf", detail)
}

/// Parse the header of a GGUF held in memory and check that every tensor lies inside it.
///
/// Candle checks every count and length of the header against the bytes left before it
/// allocates; what it does not check is a `general.alignment` of zero (it divides by it),
/// so that is looked for first.
pub fn read_content(bytes: &[u8]) -> Result<Content> {
    if declared_alignment(bytes) == Some(0) {
        return Err(format_err("general.alignment is 0"));
    }
    let mut cursor = Cursor::new(bytes);
    let content = Content::read(&mut cursor).map_err(format_err)?;
    validate_tensor_table(&content, bytes.len() as u64)?;
    Ok(content)
}

/// The integer value of `general.alignment` in a GGUF header, found by skipping over the
/// metadata without allocating; `None` if absent, not an integer, or the header is
/// malformed (candle then reports the problem).
fn declared_alignment(bytes: &[u8]) -> Option<u64> {
    struct Skim<'a> {
        b: &'a [u8],
        pos: usize,
        /// GGUF v1 stores lengths as u32, later versions as u64.
        wide: bool,
    }
    impl Skim<'_> {
        fn take(&mut self, n: usize) -> Option<&[u8]> {
            let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len())?;
            let s = self.b.get(self.pos..end)?;
            self.pos = end;
            Some(s)
        }
        fn uint(&mut self, n: usize) -> Option<u64> {
            let s = self.take(n)?;
            Some(s.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
        }
        fn len(&mut self) -> Option<usize> {
            let n = if self.wide { self.uint(8)? } else { self.uint(4)? };
            usize::try_from(n).ok()
        }
        fn string(&mut self) -> Option<&[u8]> {
            let n = self.len()?;
            self.take(n)
        }
        /// Skip a value of type `t`, returning it if it is an integer.
        fn value(&mut self, t: u64, depth: usize) -> Option<Option<i128>> {
            let int = |v: u64, size: usize, signed: bool| -> i128 {
                if signed && size < 8 && v >> (size * 8 - 1) & 1 == 1 {
                    i128::from(v) - (1i128 << (size * 8))
                } else if signed && size == 8 {
                    i128::from(v as i64)
                } else {
                    i128::from(v)
                }
            };
            let fixed = |t: u64| match t {
                0 | 1 | 7 => Some((1, t == 1)),
                2 | 3 => Some((2, t == 3)),
                4..=6 => Some((4, t == 5)),
                10..=12 => Some((8, t == 11)),
                _ => None,
            };
            match t {
                8 => self.string().map(|_| None),
                9 => {
                    if depth > 64 {
                        return None;
                    }
                    let et = self.uint(4)?;
                    let n = self.len()?;
                    match fixed(et) {
                        Some((size, _)) => self.take(n.checked_mul(size)?).map(|_| None),
                        None => {
                            for _ in 0..n {
                                self.value(et, depth + 1)?;
                            }
                            Some(None)
                        }
                    }
                }
                _ => {
                    let (size, signed) = fixed(t)?;
                    let v = self.uint(size)?;
                    Some(match t {
                        6 | 7 | 12 => None,
                        _ => Some(int(v, size, signed)),
                    })
                }
            }
        }
    }
    let mut s = Skim { b: bytes, pos: 0, wide: true };
    if s.take(4)? != b"GGUF" {
        return None;
    }
    s.wide = s.uint(4)? != 1;
    let _tensors = s.len()?;
    let kvs = s.len()?;
    for _ in 0..kvs {
        let key = s.string()? == b"general.alignment";
        let t = s.uint(4)?;
        let v = s.value(t, 0)?;
        if key {
            return v.and_then(|v| u64::try_from(v).ok());
        }
    }
    None
}

/// Byte size of a tensor of `dtype` and `dims`, or a format error if the dimensions
/// overflow or are not whole blocks.
pub(crate) fn tensor_byte_size(name: &str, dtype: GgmlDType, dims: &[usize]) -> Result<u64> {
    let mut elems: usize = 1;
    for &d in dims {
        elems =
            elems.checked_mul(d).ok_or_else(|| format_err(format!("tensor {name}: dimensions {dims:?} overflow")))?;
    }
    let block = dtype.block_size();
    let last = dims.last().copied().unwrap_or(1);
    if last % block != 0 || elems % block != 0 {
        return Err(format_err(format!(
            "tensor {name}: shape {dims:?} is not made of whole {dtype:?} blocks of {block}"
        )));
    }
    ((elems / block) as u64)
        .checked_mul(dtype.type_size() as u64)
        .ok_or_else(|| format_err(format!("tensor {name}: size overflows")))
}

fn validate_tensor_table(content: &Content, file_len: u64) -> Result<()> {
    if content.tensor_data_offset > file_len {
        return Err(format_err(format!(
            "truncated: tensor data would start at byte {} but the file has {file_len} bytes",
            content.tensor_data_offset
        )));
    }
    for (name, info) in &content.tensor_infos {
        let size = tensor_byte_size(name, info.ggml_dtype, info.shape.dims())?;
        let end = content
            .tensor_data_offset
            .checked_add(info.offset)
            .and_then(|s| s.checked_add(size))
            .ok_or_else(|| format_err(format!("tensor {name}: offset overflows")))?;
        if end > file_len {
            return Err(format_err(format!(
                "truncated: tensor {name} ends at byte {end} but the file has {file_len} bytes"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Metadata access with typed errors.

/// Typed access to GGUF metadata; every miss or type mismatch is an [`Error::ModelFormat`].
pub(crate) struct Meta<'a>(pub &'a HashMap<String, Value>);

impl<'a> Meta<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key)
    }

    fn missing(key: &str) -> Error {
        format_err(format!("metadata key {key} is missing"))
    }

    fn wrong(key: &str, want: &str, v: &Value) -> Error {
        format_err(format!("metadata key {key} should be {want}, found {:?}", v.value_type()))
    }

    /// Any non-negative integer that fits `usize`.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n: Option<u64> = match v {
            Value::U8(x) => Some(*x as u64),
            Value::U16(x) => Some(*x as u64),
            Value::U32(x) => Some(*x as u64),
            Value::U64(x) => Some(*x),
            Value::I8(x) => u64::try_from(*x).ok(),
            Value::I16(x) => u64::try_from(*x).ok(),
            Value::I32(x) => u64::try_from(*x).ok(),
            Value::I64(x) => u64::try_from(*x).ok(),
            _ => return Err(Self::wrong(key, "an integer", v)),
        };
        n.and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format_err(format!("metadata key {key} is negative or too large")))
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| Self::missing(key))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let x = match v {
            Value::F32(x) => *x as f64,
            Value::F64(x) => *x,
            _ => return Err(Self::wrong(key, "a float", v)),
        };
        if x.is_finite() {
            Ok(Some(x))
        } else {
            Err(format_err(format!("metadata key {key} is not finite")))
        }
    }

    pub fn f64(&self, key: &str) -> Result<f64> {
        self.opt_f64(key)?.ok_or_else(|| Self::missing(key))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(Self::wrong(key, "a string", v)),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(Self::wrong(key, "a bool", v)),
        }
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<&'a [Value]>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a.as_slice())),
            Some(v) => Err(Self::wrong(key, "an array", v)),
        }
    }

    pub fn str_array(&self, key: &str) -> Result<Option<Vec<&'a str>>> {
        let Some(a) = self.opt_array(key)? else {
            return Ok(None);
        };
        a.iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                v => Err(Self::wrong(key, "an array of strings", v)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn f32_array(&self, key: &str) -> Result<Option<Vec<f32>>> {
        let Some(a) = self.opt_array(key)? else {
            return Ok(None);
        };
        a.iter()
            .map(|v| match v {
                Value::F32(x) => Ok(*x),
                Value::F64(x) => Ok(*x as f32),
                v => Err(Self::wrong(key, "an array of floats", v)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn int_array(&self, key: &str) -> Result<Option<Vec<i64>>> {
        let Some(a) = self.opt_array(key)? else {
            return Ok(None);
        };
        a.iter()
            .map(|v| match v {
                Value::I8(x) => Ok(*x as i64),
                Value::U8(x) => Ok(*x as i64),
                Value::I16(x) => Ok(*x as i64),
                Value::U16(x) => Ok(*x as i64),
                Value::I32(x) => Ok(*x as i64),
                Value::U32(x) => Ok(*x as i64),
                Value::I64(x) => Ok(*x),
                v => Err(Self::wrong(key, "an array of integers", v)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    pub fn u8_array(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let Some(a) = self.opt_array(key)? else {
            return Ok(None);
        };
        a.iter()
            .map(|v| match v {
                Value::U8(x) => Ok(*x),
                Value::I8(x) => Ok(*x as u8),
                v => Err(Self::wrong(key, "an array of bytes", v)),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

/// `general.architecture` of a parsed GGUF.
pub fn architecture(content: &Content) -> Result<String> {
    Meta(&content.metadata)
        .opt_str("general.architecture")?
        .map(str::to_owned)
        .ok_or_else(|| format_err("metadata key general.architecture is missing"))
}

/// Shape (candle order: outermost first) of a tensor, or a format error naming it.
pub(crate) fn shape_of<'c>(content: &'c Content, name: &str) -> Result<&'c [usize]> {
    content
        .tensor_infos
        .get(name)
        .map(|t| t.shape.dims())
        .ok_or_else(|| format_err(format!("tensor {name} is missing")))
}

/// Check a tensor exists with exactly `want` dims (candle order).
pub(crate) fn expect_shape(content: &Content, name: &str, want: &[usize]) -> Result<()> {
    let got = shape_of(content, name)?;
    if got != want {
        return Err(format_err(format!("tensor {name} has shape {got:?}, expected {want:?}")));
    }
    Ok(())
}

/// Number of tensors per quantization type, sorted by type name.
pub(crate) fn dtype_histogram(content: &Content) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for info in content.tensor_infos.values() {
        *counts.entry(format!("{:?}", info.ggml_dtype)).or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// Requantization.

fn should_requantize(info: &TensorInfo) -> bool {
    REQUANTIZED_TYPES.contains(&info.ggml_dtype)
        && info.shape.dims().last().is_some_and(|d| d % GgmlDType::Q8_0.block_size() == 0)
}

fn to_q8_0(q: &QTensor) -> Result<QTensor> {
    let f = q.dequantize(&Device::Cpu)?;
    Ok(QTensor::quantize(&f, GgmlDType::Q8_0)?)
}

/// Rewrite a GGUF so that its Q4_1, Q5_0 and Q5_1 tensors become Q8_0; every other tensor
/// and all metadata are copied unchanged (`general.alignment` is set to the 32 bytes the
/// writer uses). Returns the new file's bytes. A file with nothing to convert is rewritten
/// all the same (byte-identical tensors).
pub fn requantize(bytes: &[u8]) -> Result<Vec<u8>> {
    let content = read_content(bytes)?;
    let mut cursor = Cursor::new(bytes);
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    // Keep the file's tensor order (by data offset) so the output is deterministic.
    names.sort_by_key(|n| content.tensor_infos.get(*n).map(|i| i.offset).unwrap_or(0));
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let info = content.tensor_infos.get(*name).ok_or_else(|| format_err(format!("tensor {name} vanished")))?;
        let q = info
            .read(&mut cursor, content.tensor_data_offset, &Device::Cpu)
            .map_err(|e| format_err(format!("tensor {name}: {e}")))?;
        let q = if should_requantize(info) { to_q8_0(&q)? } else { q };
        tensors.push((name.as_str(), q));
    }
    let mut metadata: Vec<(&str, Value)> = content
        .metadata
        .iter()
        .filter(|(k, _)| k.as_str() != "general.alignment")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    metadata.sort_by(|a, b| a.0.cmp(b.0));
    metadata.push(("general.alignment", Value::U32(WRITER_ALIGNMENT)));
    let md_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = Cursor::new(Vec::with_capacity(bytes.len() * 3 / 2));
    gguf_file::write(&mut out, &md_refs, &t_refs).map_err(format_err)?;
    Ok(out.into_inner())
}

/// A GGUF ready for a model constructor: the parsed header plus a reader over tensor data.
///
/// When requantizing on load, converted tensors are appended to an in-memory tail and their
/// [`TensorInfo`] is pointed there; untouched tensors are read from the caller's bytes, so
/// nothing but the converted tensors is copied.
pub(crate) struct Prepared<'a> {
    pub content: Content,
    pub reader: SpliceReader<'a>,
    /// How many tensors were converted to Q8_0.
    pub requantized: usize,
}

impl<'a> Prepared<'a> {
    pub fn new(bytes: &'a [u8], content: Content, requantize_to_q8_0: bool) -> Result<Self> {
        let mut content = content;
        let mut tail: Vec<u8> = Vec::new();
        let mut requantized = 0;
        if requantize_to_q8_0 {
            let base = (bytes.len() as u64)
                .checked_sub(content.tensor_data_offset)
                .ok_or_else(|| format_err("tensor data starts past the end of the file"))?;
            let mut cursor = Cursor::new(bytes);
            let mut names: Vec<String> =
                content.tensor_infos.iter().filter(|(_, i)| should_requantize(i)).map(|(n, _)| n.clone()).collect();
            names.sort();
            for name in names {
                let Some(info) = content.tensor_infos.get_mut(&name) else {
                    continue;
                };
                let q = info
                    .read(&mut cursor, content.tensor_data_offset, &Device::Cpu)
                    .map_err(|e| format_err(format!("tensor {name}: {e}")))?;
                let q8 = to_q8_0(&q)?;
                drop(q);
                let data = q8.data()?;
                info.offset = base + tail.len() as u64;
                info.ggml_dtype = GgmlDType::Q8_0;
                tail.extend_from_slice(&data);
                requantized += 1;
            }
        }
        Ok(Self { content, reader: SpliceReader { head: bytes, tail, pos: 0 }, requantized })
    }

    /// The header and the reader, to hand to a model constructor.
    pub fn into_parts(self) -> (Content, SpliceReader<'a>) {
        (self.content, self.reader)
    }
}

/// `Read + Seek` over the original bytes followed by an owned tail.
pub(crate) struct SpliceReader<'a> {
    head: &'a [u8],
    tail: Vec<u8>,
    pos: u64,
}

impl SpliceReader<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64
    }
}

impl Read for SpliceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head_len = self.head.len() as u64;
        let (src, start) =
            if self.pos < head_len { (self.head, self.pos) } else { (self.tail.as_slice(), self.pos - head_len) };
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let avail = src.get(start..).unwrap_or(&[]);
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SpliceReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before start")),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Write a GGUF with the given metadata and tensors (values from a ramp).
    pub(crate) fn write_gguf(metadata: &[(&str, Value)], tensors: &[(&str, Vec<usize>, GgmlDType)]) -> Vec<u8> {
        let ts: Vec<_> = tensors.iter().map(|(n, s, d)| crate::generate::testing::TestTensor::new(n, s, *d)).collect();
        crate::generate::testing::write_gguf(metadata, &ts).unwrap()
    }

    fn sample() -> Vec<u8> {
        write_gguf(
            &[("general.architecture", Value::String("llama".into()))],
            &[
                ("a", vec![4, 64], GgmlDType::Q4_1),
                ("b", vec![64], GgmlDType::F32),
                ("c", vec![2, 32], GgmlDType::Q5_0),
            ],
        )
    }

    #[test]
    fn requantize_converts_q4_1_and_q5_0_only() {
        let bytes = sample();
        let out = requantize(&bytes).unwrap();
        let c = read_content(&out).unwrap();
        assert_eq!(c.tensor_infos["a"].ggml_dtype, GgmlDType::Q8_0);
        assert_eq!(c.tensor_infos["b"].ggml_dtype, GgmlDType::F32);
        assert_eq!(c.tensor_infos["c"].ggml_dtype, GgmlDType::Q8_0);
        assert_eq!(architecture(&c).unwrap(), "llama");
        // Values survive within Q8_0 precision.
        let orig = read_content(&bytes).unwrap();
        let a0 = orig.tensor(&mut Cursor::new(&bytes), "a", &Device::Cpu).unwrap();
        let a1 = c.tensor(&mut Cursor::new(&out), "a", &Device::Cpu).unwrap();
        let d0: Vec<f32> = a0.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let d1: Vec<f32> = a1.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let max = d0.iter().zip(&d1).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(max < 2e-3, "max abs error {max}");
    }

    #[test]
    fn prepared_splices_converted_tensors() {
        let bytes = sample();
        let content = read_content(&bytes).unwrap();
        let mut p = Prepared::new(&bytes, content, true).unwrap();
        assert_eq!(p.requantized, 2);
        let a = p.content.tensor(&mut p.reader, "a", &Device::Cpu).unwrap();
        assert_eq!(a.dtype(), GgmlDType::Q8_0);
        let b = p.content.tensor(&mut p.reader, "b", &Device::Cpu).unwrap();
        let bv: Vec<f32> = b.dequantize(&Device::Cpu).unwrap().to_vec1().unwrap();
        assert_eq!(bv.len(), 64);
    }

    #[test]
    fn truncated_and_garbage_files_are_format_errors() {
        let bytes = sample();
        let c = read_content(&bytes).unwrap();
        // Last byte of real tensor data (the writer pads the file after it).
        let data_end = c
            .tensor_infos
            .iter()
            .map(|(n, i)| c.tensor_data_offset + i.offset + tensor_byte_size(n, i.ggml_dtype, i.shape.dims()).unwrap())
            .max()
            .unwrap() as usize;
        for cut in [0, 3, 8, 20, bytes.len() / 2, data_end - 1] {
            match read_content(&bytes[..cut]) {
                Err(Error::ModelFormat { .. }) => {}
                other => panic!("cut at {cut}: expected ModelFormat, got {other:?}"),
            }
        }
        assert!(matches!(read_content(b"not a gguf at all"), Err(Error::ModelFormat { .. })));
    }

    #[test]
    fn zero_alignment_is_a_format_error_not_a_panic() {
        for v in [Value::U32(0), Value::I32(0), Value::U8(0), Value::U16(0)] {
            let bytes = write_gguf(
                &[
                    ("general.architecture", Value::String("llama".into())),
                    ("list", Value::Array(vec![Value::String("a".into()), Value::String("bc".into())])),
                    ("general.alignment", v.clone()),
                ],
                &[("b", vec![64], GgmlDType::F32)],
            );
            assert_eq!(declared_alignment(&bytes), Some(0));
            match read_content(&bytes) {
                Err(Error::ModelFormat { detail, .. }) => assert!(detail.contains("alignment"), "{detail}"),
                other => panic!("{v:?}: expected ModelFormat, got {other:?}"),
            }
        }
        // Found past other metadata; other values are left to candle.
        let bytes = write_gguf(
            &[("general.architecture", Value::String("llama".into())), ("general.alignment", Value::U32(64))],
            &[("b", vec![64], GgmlDType::F32)],
        );
        assert_eq!(declared_alignment(&bytes), Some(64));
        assert_eq!(declared_alignment(&sample()), None);
        assert_eq!(declared_alignment(b"GGUF"), None);
    }

    #[test]
    fn meta_accessors_type_check() {
        let mut md = HashMap::new();
        md.insert("n".to_string(), Value::U32(7));
        md.insert("neg".to_string(), Value::I32(-1));
        md.insert("s".to_string(), Value::String("x".into()));
        let m = Meta(&md);
        assert_eq!(m.usize("n").unwrap(), 7);
        assert!(matches!(m.usize("neg"), Err(Error::ModelFormat { .. })));
        assert!(matches!(m.usize("s"), Err(Error::ModelFormat { .. })));
        assert!(matches!(m.usize("absent"), Err(Error::ModelFormat { .. })));
        assert_eq!(m.opt_str("s").unwrap(), Some("x"));
    }
}
